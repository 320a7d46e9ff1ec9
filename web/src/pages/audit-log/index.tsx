import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { type FormEvent, Fragment, useState } from "react";
import { useSearchParams } from "react-router";

import { api, type AuditEntry, unwrap } from "../../api/client";
import { useAuth } from "../../auth/context";
import { Button } from "../../components/Button";
import { EmptyState, ErrorAlert, LoadingState } from "../../components/feedback";
import { TextField } from "../../components/Field";
import { Card, PageHeader } from "../../components/PageHeader";
import { Pager } from "../../components/Pager";
import { Table, Td, Th } from "../../components/Table";
import { formatDateTime } from "../../lib/format";
import { useCursorPager } from "../../lib/useCursorPager";

const PAGE_SIZE = 50;

interface Filters {
  action: string;
  object_type: string;
}

const EMPTY: Filters = { action: "", object_type: "" };

function useEventTypes(enabled: boolean) {
  return useQuery({
    queryKey: ["events", "catalog"],
    queryFn: () => unwrap(api.GET("/api/v1/events/catalog")),
    enabled,
    staleTime: 10 * 60_000,
  });
}

function Row({ entry }: { entry: AuditEntry }) {
  const [open, setOpen] = useState(false);
  const hasDetails = Object.keys(entry.details).length > 0;
  const detailsId = `audit-details-${entry.id}`;
  const actor = entry.actor.display ?? entry.actor.id ?? "—";
  const actorKind = entry.actor.type.replaceAll("_", " ");
  return (
    <Fragment>
      <tr>
        <Td className="whitespace-nowrap">{formatDateTime(entry.occurred_at)}</Td>
        <Td>
          <p className="text-slate-900">{actor}</p>
          {actorKind !== actor && <p className="text-xs text-slate-500">{actorKind}</p>}
        </Td>
        <Td>
          <code className="font-mono text-xs text-indigo-700">{entry.action}</code>
        </Td>
        <Td>
          <p className="text-slate-900">{entry.object.type}</p>
          <p className="font-mono text-xs text-slate-500" title={entry.object.id}>
            {entry.object.id.slice(0, 13)}…
          </p>
        </Td>
        <Td>
          <span className="font-mono text-xs text-slate-500">{entry.request_id ?? "—"}</span>
        </Td>
        <Td className="text-right">
          {hasDetails && (
            <Button
              variant="ghost"
              size="sm"
              aria-expanded={open}
              aria-controls={detailsId}
              onClick={() => setOpen((value) => !value)}
            >
              {open ? "Hide" : "Details"}
            </Button>
          )}
        </Td>
      </tr>
      {open && (
        <tr id={detailsId}>
          <td colSpan={6} className="bg-slate-50 px-4 py-3">
            <pre className="overflow-x-auto text-xs text-slate-700">{JSON.stringify(entry.details, null, 2)}</pre>
          </td>
        </tr>
      )}
    </Fragment>
  );
}

/** The applied filters live in the URL, so a filtered view can be bookmarked and shared. */
function useUrlFilters(): [Filters, (filters: Filters) => void] {
  const [params, setParams] = useSearchParams();
  const filters = { action: params.get("action") ?? "", object_type: params.get("object_type") ?? "" };
  const apply = (next: Filters) => {
    const query = new URLSearchParams();
    if (next.action) query.set("action", next.action);
    if (next.object_type) query.set("object_type", next.object_type);
    setParams(query);
  };
  return [filters, apply];
}

export default function AuditLogPage() {
  const auth = useAuth();
  const [filters, setFilters] = useUrlFilters();
  const [draft, setDraft] = useState<Filters>(filters);
  const pager = useCursorPager(JSON.stringify(filters));
  const eventTypes = useEventTypes(auth.can("events:read"));

  const entries = useQuery({
    queryKey: ["audit-log", filters, pager.cursor],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/audit-log", {
          params: {
            query: {
              limit: PAGE_SIZE,
              cursor: pager.cursor,
              action: filters.action || undefined,
              object_type: filters.object_type || undefined,
            },
          },
        }),
      ),
    placeholderData: keepPreviousData,
  });

  const apply = (event: FormEvent) => {
    event.preventDefault();
    setFilters({ action: draft.action.trim(), object_type: draft.object_type.trim() });
  };
  const filtered = filters.action !== "" || filters.object_type !== "";

  return (
    <>
      <PageHeader title="Audit log" description="Who did what, when, and from which request. Newest first." />
      <Card className="mb-4 p-4">
        <form onSubmit={apply} className="grid items-end gap-4 sm:grid-cols-[1fr_1fr_auto]" role="search">
          <TextField
            label="Action"
            placeholder="e.g. tenancy.api_key.created"
            list="audit-actions"
            value={draft.action}
            onChange={(event) => setDraft({ ...draft, action: event.target.value })}
          />
          <datalist id="audit-actions">
            {eventTypes.data?.items.map((type) => <option key={type.type} value={type.type} />)}
          </datalist>
          <TextField
            label="Object type"
            placeholder="e.g. api_key"
            value={draft.object_type}
            onChange={(event) => setDraft({ ...draft, object_type: event.target.value })}
          />
          <div className="flex gap-2">
            <Button type="submit">Apply</Button>
            {filtered && (
              <Button
                variant="secondary"
                onClick={() => {
                  setDraft(EMPTY);
                  setFilters(EMPTY);
                }}
              >
                Clear
              </Button>
            )}
          </div>
        </form>
      </Card>
      {entries.isPending && <LoadingState />}
      {entries.isError && <ErrorAlert error={entries.error} onRetry={() => void entries.refetch()} />}
      {entries.data && entries.data.items.length === 0 && (
        <EmptyState title={filtered ? "No entries match these filters" : "Nothing recorded yet"} />
      )}
      {entries.data && entries.data.items.length > 0 && (
        <Table caption="Audit log entries">
          <thead>
            <tr>
              <Th>When</Th>
              <Th>Actor</Th>
              <Th>Action</Th>
              <Th>Object</Th>
              <Th>Request</Th>
              <Th>
                <span className="sr-only">Details</span>
              </Th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {entries.data.items.map((entry) => (
              <Row key={entry.id} entry={entry} />
            ))}
          </tbody>
        </Table>
      )}
      <Pager
        pageNumber={pager.pageNumber}
        hasPrevious={pager.hasPrevious}
        nextCursor={entries.data?.next_cursor}
        onPrevious={pager.previous}
        onNext={pager.next}
        busy={entries.isFetching}
      />
    </>
  );
}
