import { Suspense, useState } from "react";
import { NavLink, Outlet } from "react-router";

import { useAuth } from "../auth/context";
import { Badge } from "../components/Badge";
import { Button } from "../components/Button";
import { LoadingState } from "../components/feedback";
import { icons, Logo } from "../components/icons";
import { capitalize } from "../lib/format";
import { canSee, PAGES } from "./pages";

export function Shell() {
  const auth = useAuth();
  const [menuOpen, setMenuOpen] = useState(false);
  const [signingOut, setSigningOut] = useState(false);
  const pages = PAGES.filter((page) => canSee(page, auth));
  const me = auth.me;

  const signOut = async () => {
    setSigningOut(true);
    await auth.signOut();
  };

  return (
    <div className="min-h-screen md:flex">
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:absolute focus:left-4 focus:top-4 focus:z-50 focus:rounded focus:bg-white focus:px-3 focus:py-2 focus:shadow"
      >
        Skip to content
      </a>
      <aside className="border-b border-slate-800 bg-slate-900 text-slate-300 md:fixed md:inset-y-0 md:flex md:w-64 md:flex-col md:border-b-0">
        <div className="flex items-center justify-between px-5 py-4">
          <div className="flex items-center gap-3">
            <Logo />
            <div>
              <p className="text-sm font-semibold text-white">aiaas</p>
              <p className="text-xs text-slate-400">
                {auth.isPlatformAdmin ? "Platform administration" : (me?.tenant_slug ?? "")}
              </p>
            </div>
          </div>
          <button
            type="button"
            className="rounded p-1.5 text-slate-300 hover:bg-slate-800 md:hidden"
            aria-expanded={menuOpen}
            aria-controls="main-nav"
            onClick={() => setMenuOpen((open) => !open)}
          >
            <span className="sr-only">Menu</span>
            {icons.menu}
          </button>
        </div>
        <nav
          id="main-nav"
          aria-label="Main"
          className={`${menuOpen ? "block" : "hidden"} flex-1 px-3 pb-4 md:block`}
        >
          <ul className="space-y-1">
            {pages.map((page) => (
              <li key={page.path}>
                <NavLink
                  to={page.path}
                  end={page.path === "/"}
                  onClick={() => setMenuOpen(false)}
                  className={({ isActive }) =>
                    `flex items-center gap-3 rounded-md px-3 py-2 text-sm font-medium transition-colors ${
                      isActive ? "bg-slate-800 text-white" : "hover:bg-slate-800/60 hover:text-white"
                    }`
                  }
                >
                  {icons[page.icon]}
                  {page.label}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className={`${menuOpen ? "block" : "hidden"} border-t border-slate-800 px-5 py-4 md:block`}>
          <p className="truncate text-sm font-medium text-white" title={me?.display}>
            {me?.display}
          </p>
          <div className="mt-1 flex items-center justify-between gap-2">
            <Badge tone="indigo">{auth.isPlatformAdmin ? "Platform admin" : capitalize(me?.role ?? "member")}</Badge>
            <Button
              variant="ghost-dark"
              size="sm"
              onClick={() => void signOut()}
              loading={signingOut}
            >
              {icons.signOut}
              Sign out
            </Button>
          </div>
        </div>
      </aside>
      <main id="main" tabIndex={-1} className="flex-1 px-4 py-8 outline-none sm:px-8 md:ml-64">
        <div className="mx-auto max-w-6xl">
          <Suspense fallback={<LoadingState />}>
            <Outlet />
          </Suspense>
        </div>
      </main>
    </div>
  );
}
