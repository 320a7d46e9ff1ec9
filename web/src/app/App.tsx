import { QueryClientProvider } from "@tanstack/react-query";
import { useState } from "react";
import { BrowserRouter, Route, Routes } from "react-router";

import { AuthProvider } from "../auth/AuthProvider";
import NotFoundPage from "../pages/not-found";
import SignInPage from "../pages/sign-in";
import { PageGate } from "./PageGate";
import { PAGES } from "./pages";
import { createQueryClient } from "./queryClient";
import { RequireAuth } from "./RequireAuth";
import { Shell } from "./Shell";

export function App() {
  const [queryClient] = useState(createQueryClient);
  return (
    <QueryClientProvider client={queryClient}>
      <AuthProvider>
        <BrowserRouter>
          <Routes>
            <Route path="/sign-in" element={<SignInPage />} />
            <Route
              element={
                <RequireAuth>
                  <Shell />
                </RequireAuth>
              }
            >
              {PAGES.map((page) => (
                <Route key={page.path} path={page.path} element={<PageGate page={page} />} />
              ))}
              <Route path="*" element={<NotFoundPage />} />
            </Route>
          </Routes>
        </BrowserRouter>
      </AuthProvider>
    </QueryClientProvider>
  );
}
