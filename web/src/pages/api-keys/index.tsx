import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import { api, type ApiKey, type ApiKeyCreated, unwrap } from "../../api/client";
import { useAuth } from "../../auth/context";
import { Badge } from "../../components/Badge";
import { Button } from "../../components/Button";
import { ConfirmDialog } from "../../components/Dialog";
import { Checkbox } from "../../components/Field";
import { EmptyState, ErrorAlert, LoadingState } from "../../components/feedback";
import { PageHeader } from "../../components/PageHeader";
import { Pager } from "../../components/Pager";
import { Table, Td, Th } from "../../components/Table";
import { formatDate, formatDateTime } from "../../lib/format";
import { useCursorPager } from "../../lib/useCursorPager";
import { CreateKeyDialog } from "./CreateKeyDialog";
import { RevealKeyDialog } from "./RevealKeyDialog";

const PAGE_SIZE = 25;
const SHOWN_SCOPES = 3;

function keyStatus(key: ApiKey): { label: string; tone: "green" | "gray" | "amber" } {
  if (key.revoked_at) return { label: "Revoked", tone: "gray" };
  if (key.expires_at && new Date(key.expires_at).getTime() <= Date.now()) return { label: "Expired", tone: "amber" };
  return { label: "Active", tone: "green" };
}

function Scopes({ scopes }: { scopes: string[] }) {
  const shown = scopes.slice(0, SHOWN_SCOPES);
  return (
    <div className="flex max-w-xs flex-wrap gap-1" title={scopes.join(", ")}>
      {shown.map((scope) => (
        <Badge key={scope}>{scope}</Badge>
      ))}
      {scopes.length > SHOWN_SCOPES && <Badge tone="indigo">+{scopes.length - SHOWN_SCOPES} more</Badge>}
    </div>
  );
}

export default function ApiKeysPage() {
  const auth = useAuth();
  const queryClient = useQueryClient();
  const canWrite = auth.can("api_keys:write");
  const [includeRevoked, setIncludeRevoked] = useState(false);
  const pager = useCursorPager(String(includeRevoked));
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);

  const keys = useQuery({
    queryKey: ["api-keys", includeRevoked, pager.cursor],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/api-keys", {
          params: { query: { limit: PAGE_SIZE, cursor: pager.cursor, include_revoked: includeRevoked } },
        }),
      ),
    placeholderData: keepPreviousData,
  });

  const revoke = useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE("/api/v1/api-keys/{key_id}", { params: { path: { key_id: id } } })),
    onSuccess: () => {
      setRevoking(null);
      return queryClient.invalidateQueries({ queryKey: ["api-keys"] });
    },
  });

  return (
    <>
      <PageHeader
        title="API keys"
        description="Keys let your servers call the API on behalf of this organisation."
        actions={canWrite && <Button onClick={() => setCreating(true)}>Create key</Button>}
      />
      <div className="mb-4">
        <Checkbox
          label="Show revoked keys"
          checked={includeRevoked}
          onChange={(event) => setIncludeRevoked(event.target.checked)}
        />
      </div>
      {keys.isPending && <LoadingState />}
      {keys.isError && <ErrorAlert error={keys.error} onRetry={() => void keys.refetch()} />}
      {keys.data && keys.data.items.length === 0 && (
        <EmptyState title="No API keys">
          {canWrite ? "Create one to connect a server or script." : "Nobody has created one yet."}
        </EmptyState>
      )}
      {keys.data && keys.data.items.length > 0 && (
        <Table caption="API keys">
          <thead>
            <tr>
              <Th>Name</Th>
              <Th>Key</Th>
              <Th>Scopes</Th>
              <Th>Status</Th>
              <Th>Last used</Th>
              <Th>Expires</Th>
              {canWrite && (
                <Th>
                  <span className="sr-only">Actions</span>
                </Th>
              )}
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {keys.data.items.map((key) => {
              const status = keyStatus(key);
              return (
                <tr key={key.id} data-testid={`api-key-row-${key.prefix}`}>
                  <Td>
                    <p className="font-medium text-slate-900">{key.name}</p>
                    <p className="text-xs text-slate-500">Created {formatDate(key.created_at)}</p>
                  </Td>
                  <Td>
                    <code className="whitespace-nowrap font-mono text-xs text-slate-600">{key.prefix}…</code>
                  </Td>
                  <Td>
                    <Scopes scopes={key.scopes} />
                  </Td>
                  <Td>
                    <Badge tone={status.tone}>{status.label}</Badge>
                  </Td>
                  <Td className="whitespace-nowrap">{formatDateTime(key.last_used_at)}</Td>
                  <Td className="whitespace-nowrap">{key.expires_at ? formatDate(key.expires_at) : "Never"}</Td>
                  {canWrite && (
                    <Td className="text-right">
                      {!key.revoked_at && (
                        <Button
                          variant="ghost-danger"
                          size="sm"
                          aria-label={`Revoke ${key.name}`}
                          onClick={() => setRevoking(key)}
                        >
                          Revoke
                        </Button>
                      )}
                    </Td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </Table>
      )}
      <Pager
        pageNumber={pager.pageNumber}
        hasPrevious={pager.hasPrevious}
        nextCursor={keys.data?.next_cursor}
        onPrevious={pager.previous}
        onNext={pager.next}
        busy={keys.isFetching}
      />
      <CreateKeyDialog
        open={creating}
        onClose={() => setCreating(false)}
        onCreated={(key) => {
          setCreating(false);
          setCreated(key);
        }}
      />
      <RevealKeyDialog created={created} onClose={() => setCreated(null)} />
      <ConfirmDialog
        open={revoking !== null}
        title="Revoke API key"
        confirmLabel="Revoke key"
        onConfirm={() => revoking && revoke.mutate(revoking.id)}
        onClose={() => {
          setRevoking(null);
          revoke.reset();
        }}
        pending={revoke.isPending}
        error={revoke.error}
      >
        <p>
          Requests using <span className="font-medium text-slate-900">{revoking?.name}</span> (
          <code className="font-mono text-xs">{revoking?.prefix}…</code>) will be refused at once. This cannot be undone.
        </p>
      </ConfirmDialog>
    </>
  );
}
