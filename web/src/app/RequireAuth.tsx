import type { ReactNode } from "react";
import { Navigate, useLocation } from "react-router";

import { useAuth } from "../auth/context";
import { Button } from "../components/Button";
import { ErrorAlert, LoadingState } from "../components/feedback";

export function RequireAuth({ children }: { children: ReactNode }) {
  const auth = useAuth();
  const location = useLocation();
  if (auth.status === "signed-out") {
    const next = `${location.pathname}${location.search}`;
    const query = next === "/" ? "" : `?next=${encodeURIComponent(next)}`;
    return <Navigate to={`/sign-in${query}`} replace />;
  }
  if (auth.status === "loading") {
    return (
      <div className="flex min-h-screen items-center justify-center">
        <LoadingState label="Signing you in…" />
      </div>
    );
  }
  if (auth.status === "error") {
    return (
      <div className="mx-auto flex min-h-screen max-w-md flex-col justify-center gap-4 p-6">
        <ErrorAlert title="Could not load your account" error={auth.error} onRetry={auth.retry} />
        <Button variant="secondary" onClick={() => void auth.signOut()}>
          Sign out
        </Button>
      </div>
    );
  }
  return <>{children}</>;
}
