import { useQuery } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { Link } from "react-router";

import { api, unwrap } from "../../api/client";
import { canSee, PAGES } from "../../app/pages";
import { useAuth } from "../../auth/context";
import { Badge } from "../../components/Badge";
import { ErrorAlert, LoadingState } from "../../components/feedback";
import { Card, PageHeader } from "../../components/PageHeader";
import { capitalize, formatDate } from "../../lib/format";
import { TENANT_QUERY_KEY } from "./queries";
import { RenameTenant } from "./RenameTenant";

function Stat({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="px-5 py-4">
      <dt className="text-xs font-medium uppercase tracking-wide text-slate-500">{label}</dt>
      <dd className="mt-1 text-lg font-semibold text-slate-900">{children}</dd>
    </div>
  );
}

function QuickLinks() {
  const auth = useAuth();
  const pages = PAGES.filter((page) => page.path !== "/" && canSee(page, auth));
  if (pages.length === 0) return null;
  return (
    <section aria-labelledby="quick-links" className="mt-8">
      <h2 id="quick-links" className="mb-3 text-sm font-semibold text-slate-900">
        Go to
      </h2>
      <ul className="grid gap-3 sm:grid-cols-2 lg:grid-cols-3">
        {pages.map((page) => (
          <li key={page.path}>
            <Link
              to={page.path}
              className="block rounded-lg border border-slate-200 bg-white px-4 py-3 text-sm font-medium text-slate-800 shadow-sm hover:border-indigo-300 hover:text-indigo-700"
            >
              {page.label}
            </Link>
          </li>
        ))}
      </ul>
    </section>
  );
}

function TenantOverview() {
  const auth = useAuth();
  const tenant = useQuery({
    queryKey: TENANT_QUERY_KEY,
    queryFn: () => unwrap(api.GET("/api/v1/tenant")),
    enabled: auth.can("tenant:read"),
  });
  const me = auth.me;

  return (
    <>
      <PageHeader
        title={tenant.data?.name ?? me?.tenant_slug ?? "Overview"}
        description="Your organisation at a glance."
        actions={tenant.data && auth.can("tenant:write") ? <RenameTenant tenant={tenant.data} /> : undefined}
      />
      {tenant.isPending && auth.can("tenant:read") && <LoadingState />}
      {tenant.isError && <ErrorAlert error={tenant.error} onRetry={() => void tenant.refetch()} />}
      <Card>
        <dl className="grid divide-y divide-slate-200 sm:grid-cols-2 sm:divide-x sm:divide-y-0 lg:grid-cols-4">
          <Stat label="Plan">{capitalize(tenant.data?.plan ?? me?.plan ?? "—")}</Stat>
          <Stat label="Status">
            {tenant.data ? (
              <Badge tone={tenant.data.status === "active" ? "green" : "red"}>{capitalize(tenant.data.status)}</Badge>
            ) : (
              "—"
            )}
          </Stat>
          <Stat label="Your role">{capitalize(me?.role ?? "—")}</Stat>
          <Stat label="Member since">{formatDate(tenant.data?.created_at)}</Stat>
        </dl>
      </Card>
      <p className="mt-3 text-xs text-slate-500">
        Signed in as {me?.display} · organisation <code className="font-mono">{me?.tenant_slug}</code> ·{" "}
        {me?.permissions.length ?? 0} permissions
      </p>
      <QuickLinks />
    </>
  );
}

function PlatformOverview() {
  const auth = useAuth();
  return (
    <>
      <PageHeader title="Platform administration" description="Operate the installation and its organisations." />
      <Card className="p-5 text-sm text-slate-600">
        <p>
          Signed in as <span className="font-medium text-slate-900">{auth.me?.display}</span>. Platform admins manage
          organisations (tenants); they do not see any organisation's data.
        </p>
      </Card>
      <QuickLinks />
    </>
  );
}

export default function OverviewPage() {
  const auth = useAuth();
  return auth.isPlatformAdmin ? <PlatformOverview /> : <TenantOverview />;
}
