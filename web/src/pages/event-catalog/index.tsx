import { useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";

import { api, unwrap } from "../../api/client";
import { Badge } from "../../components/Badge";
import { EmptyState, ErrorAlert, LoadingState } from "../../components/feedback";
import { TextField } from "../../components/Field";
import { PageHeader } from "../../components/PageHeader";

export default function EventCatalogPage() {
  const [search, setSearch] = useState("");
  const catalog = useQuery({
    queryKey: ["events", "catalog"],
    queryFn: () => unwrap(api.GET("/api/v1/events/catalog")),
    staleTime: 10 * 60_000,
  });

  const items = useMemo(() => {
    const needle = search.trim().toLowerCase();
    const all = [...(catalog.data?.items ?? [])].sort((a, b) => a.type.localeCompare(b.type));
    return needle
      ? all.filter((item) => item.type.includes(needle) || item.description.toLowerCase().includes(needle))
      : all;
  }, [catalog.data, search]);

  return (
    <>
      <PageHeader
        title="Event catalog"
        description="Every event the platform emits, with its payload schema. Webhooks and the audit log use these types."
      />
      <div className="mb-4 max-w-sm">
        <TextField label="Filter" type="search" value={search} onChange={(event) => setSearch(event.target.value)} />
      </div>
      {catalog.isPending && <LoadingState />}
      {catalog.isError && <ErrorAlert error={catalog.error} onRetry={() => void catalog.refetch()} />}
      {catalog.data && items.length === 0 && <EmptyState title="No event types match" />}
      <ul className="space-y-3">
        {items.map((item) => (
          <li key={item.type} className="rounded-lg border border-slate-200 bg-white shadow-sm">
            <details className="group">
              <summary className="flex cursor-pointer list-none items-start justify-between gap-4 px-4 py-3">
                <div>
                  <code className="font-mono text-sm font-semibold text-slate-900">{item.type}</code>
                  <p className="mt-0.5 text-sm text-slate-500">{item.description}</p>
                </div>
                <div className="flex shrink-0 items-center gap-2">
                  <Badge tone="indigo">v{item.version}</Badge>
                  <span className="text-xs text-indigo-600 group-open:hidden">Show schema</span>
                  <span className="hidden text-xs text-indigo-600 group-open:inline">Hide schema</span>
                </div>
              </summary>
              <pre className="overflow-x-auto border-t border-slate-100 bg-slate-50 px-4 py-3 text-xs text-slate-700">
                {JSON.stringify(item.payload_schema, null, 2)}
              </pre>
            </details>
          </li>
        ))}
      </ul>
    </>
  );
}
