import { useEffect } from "react";

import { useAuth } from "../auth/context";
import { EmptyState } from "../components/feedback";
import { canSee, type PageDefinition } from "./pages";

/** Renders a page when the principal may see it, and names it in the document title. */
export function PageGate({ page }: { page: PageDefinition }) {
  const auth = useAuth();
  useEffect(() => {
    document.title = `${page.label} · aiaas`;
  }, [page.label]);
  if (!canSee(page, auth)) {
    return (
      <EmptyState title="You do not have access to this page">
        Ask an owner or admin of your organisation for the permission it needs.
      </EmptyState>
    );
  }
  const Page = page.component;
  return <Page />;
}
