import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import { api, type Tenant, unwrap } from "../../api/client";
import { Badge } from "../../components/Badge";
import { Button } from "../../components/Button";
import { ConfirmDialog } from "../../components/Dialog";
import { EmptyState, ErrorAlert, LoadingState } from "../../components/feedback";
import { PageHeader } from "../../components/PageHeader";
import { Pager } from "../../components/Pager";
import { Table, Td, Th } from "../../components/Table";
import { capitalize, formatDate } from "../../lib/format";
import { useCursorPager } from "../../lib/useCursorPager";
import { CreateTenantDialog } from "./CreateTenantDialog";

const PAGE_SIZE = 25;

export default function TenantsPage() {
  const queryClient = useQueryClient();
  const pager = useCursorPager();
  const [creating, setCreating] = useState(false);
  const [toggling, setToggling] = useState<Tenant | null>(null);

  const tenants = useQuery({
    queryKey: ["tenants", pager.cursor],
    queryFn: () =>
      unwrap(api.GET("/api/v1/tenants", { params: { query: { limit: PAGE_SIZE, cursor: pager.cursor } } })),
    placeholderData: keepPreviousData,
  });

  const toggle = useMutation({
    mutationFn: (tenant: Tenant) => {
      const params = { params: { path: { tenant_id: tenant.id } } };
      return unwrap(
        tenant.status === "active"
          ? api.POST("/api/v1/tenants/{tenant_id}/disable", params)
          : api.POST("/api/v1/tenants/{tenant_id}/enable", params),
      );
    },
    onSuccess: () => {
      setToggling(null);
      return queryClient.invalidateQueries({ queryKey: ["tenants"] });
    },
  });

  const disabling = toggling?.status === "active";

  return (
    <>
      <PageHeader
        title="Tenants"
        description="Every organisation on this installation."
        actions={<Button onClick={() => setCreating(true)}>Create tenant</Button>}
      />
      {tenants.isPending && <LoadingState />}
      {tenants.isError && <ErrorAlert error={tenants.error} onRetry={() => void tenants.refetch()} />}
      {tenants.data && tenants.data.items.length === 0 && <EmptyState title="No tenants yet" />}
      {tenants.data && tenants.data.items.length > 0 && (
        <Table caption="Tenants">
          <thead>
            <tr>
              <Th>Name</Th>
              <Th>Slug</Th>
              <Th>Plan</Th>
              <Th>Status</Th>
              <Th>Created</Th>
              <Th>
                <span className="sr-only">Actions</span>
              </Th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {tenants.data.items.map((tenant) => (
              <tr key={tenant.id}>
                <Td className="font-medium text-slate-900">{tenant.name}</Td>
                <Td>
                  <code className="font-mono text-xs">{tenant.slug}</code>
                </Td>
                <Td>{capitalize(tenant.plan)}</Td>
                <Td>
                  <Badge tone={tenant.status === "active" ? "green" : "red"}>{capitalize(tenant.status)}</Badge>
                </Td>
                <Td className="whitespace-nowrap">{formatDate(tenant.created_at)}</Td>
                <Td className="text-right">
                  <Button
                    variant={tenant.status === "active" ? "ghost-danger" : "ghost"}
                    size="sm"
                    onClick={() => setToggling(tenant)}
                  >
                    {tenant.status === "active" ? "Disable" : "Enable"}
                  </Button>
                </Td>
              </tr>
            ))}
          </tbody>
        </Table>
      )}
      <Pager
        pageNumber={pager.pageNumber}
        hasPrevious={pager.hasPrevious}
        nextCursor={tenants.data?.next_cursor}
        onPrevious={pager.previous}
        onNext={pager.next}
        busy={tenants.isFetching}
      />
      <CreateTenantDialog open={creating} onClose={() => setCreating(false)} />
      <ConfirmDialog
        open={toggling !== null}
        title={disabling ? "Disable tenant" : "Enable tenant"}
        confirmLabel={disabling ? "Disable" : "Enable"}
        tone={disabling ? "danger" : "primary"}
        onConfirm={() => toggling && toggle.mutate(toggling)}
        onClose={() => {
          setToggling(null);
          toggle.reset();
        }}
        pending={toggle.isPending}
        error={toggle.error}
      >
        {disabling ? (
          <p>
            Everyone in <span className="font-medium text-slate-900">{toggling?.name}</span> is signed out and its API
            keys stop working until the tenant is enabled again. No data is deleted.
          </p>
        ) : (
          <p>
            <span className="font-medium text-slate-900">{toggling?.name}</span> can sign in and use its API keys again.
          </p>
        )}
      </ConfirmDialog>
    </>
  );
}
