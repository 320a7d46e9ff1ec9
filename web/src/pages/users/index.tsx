import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import { api, type Role, type User, unwrap } from "../../api/client";
import { useAuth } from "../../auth/context";
import { Badge } from "../../components/Badge";
import { Button } from "../../components/Button";
import { ConfirmDialog } from "../../components/Dialog";
import { EmptyState, ErrorAlert, LoadingState } from "../../components/feedback";
import { controlClass } from "../../components/Field";
import { PageHeader } from "../../components/PageHeader";
import { Pager } from "../../components/Pager";
import { Table, Td, Th } from "../../components/Table";
import { formatDateTime } from "../../lib/format";
import { useCursorPager } from "../../lib/useCursorPager";
import { InviteUserDialog } from "./InviteUserDialog";
import { ROLES } from "./roles";

const PAGE_SIZE = 25;

export default function UsersPage() {
  const auth = useAuth();
  const queryClient = useQueryClient();
  const pager = useCursorPager();
  const canWrite = auth.can("users:write");
  const [inviting, setInviting] = useState(false);
  const [deactivating, setDeactivating] = useState<User | null>(null);

  const users = useQuery({
    queryKey: ["users", pager.cursor],
    queryFn: () =>
      unwrap(api.GET("/api/v1/users", { params: { query: { limit: PAGE_SIZE, cursor: pager.cursor } } })),
    placeholderData: keepPreviousData,
  });

  const update = useMutation({
    mutationFn: ({ id, ...body }: { id: string; role?: Role; is_active?: boolean }) =>
      unwrap(api.PATCH("/api/v1/users/{user_id}", { params: { path: { user_id: id } }, body })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["users"] }),
  });

  const deactivate = useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE("/api/v1/users/{user_id}", { params: { path: { user_id: id } } })),
    onSuccess: () => {
      setDeactivating(null);
      return queryClient.invalidateQueries({ queryKey: ["users"] });
    },
  });

  return (
    <>
      <PageHeader
        title="Users"
        description="People who can sign in to this organisation, and what they may do."
        actions={canWrite && <Button onClick={() => setInviting(true)}>Invite user</Button>}
      />
      {update.isError && (
        <div className="mb-4">
          <ErrorAlert title="The change was not saved" error={update.error} />
        </div>
      )}
      {users.isPending && <LoadingState />}
      {users.isError && <ErrorAlert error={users.error} onRetry={() => void users.refetch()} />}
      {users.data && users.data.items.length === 0 && <EmptyState title="No users yet" />}
      {users.data && users.data.items.length > 0 && (
        <Table caption="Users">
          <thead>
            <tr>
              <Th>User</Th>
              <Th>Role</Th>
              <Th>Status</Th>
              <Th>Last sign-in</Th>
              {canWrite && (
                <Th>
                  <span className="sr-only">Actions</span>
                </Th>
              )}
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {users.data.items.map((user) => {
              const self = user.id === auth.me?.id;
              return (
                <tr key={user.id}>
                  <Td>
                    <p className="font-medium text-slate-900">
                      {user.name || user.email}
                      {self && <span className="ml-2 text-xs font-normal text-slate-500">(you)</span>}
                    </p>
                    {user.name && <p className="text-xs text-slate-500">{user.email}</p>}
                  </Td>
                  <Td>
                    {canWrite && !self && user.is_active ? (
                      <select
                        aria-label={`Role of ${user.email}`}
                        className={`${controlClass} w-32 py-1.5`}
                        value={user.role}
                        disabled={update.isPending && update.variables?.id === user.id}
                        onChange={(event) => update.mutate({ id: user.id, role: event.target.value as Role })}
                      >
                        {ROLES.map((role) => (
                          <option key={role.value} value={role.value}>
                            {role.label}
                          </option>
                        ))}
                      </select>
                    ) : (
                      <span className="capitalize">{user.role}</span>
                    )}
                  </Td>
                  <Td>
                    <Badge tone={user.is_active ? "green" : "gray"}>{user.is_active ? "Active" : "Deactivated"}</Badge>
                  </Td>
                  <Td className="whitespace-nowrap">{formatDateTime(user.last_login_at)}</Td>
                  {canWrite && (
                    <Td className="text-right">
                      {!self &&
                        (user.is_active ? (
                          <Button variant="ghost-danger" size="sm" onClick={() => setDeactivating(user)}>
                            Deactivate
                          </Button>
                        ) : (
                          <Button
                            variant="ghost"
                            size="sm"
                            loading={update.isPending && update.variables?.id === user.id}
                            onClick={() => update.mutate({ id: user.id, is_active: true })}
                          >
                            Reactivate
                          </Button>
                        ))}
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
        nextCursor={users.data?.next_cursor}
        onPrevious={pager.previous}
        onNext={pager.next}
        busy={users.isFetching}
      />
      <InviteUserDialog open={inviting} onClose={() => setInviting(false)} />
      <ConfirmDialog
        open={deactivating !== null}
        title="Deactivate user"
        confirmLabel="Deactivate"
        onConfirm={() => deactivating && deactivate.mutate(deactivating.id)}
        onClose={() => {
          setDeactivating(null);
          deactivate.reset();
        }}
        pending={deactivate.isPending}
        error={deactivate.error}
      >
        <p>
          <span className="font-medium text-slate-900">{deactivating?.email}</span> will be signed out everywhere and can
          no longer sign in. Their history stays in the audit log; you can reactivate them later.
        </p>
      </ConfirmDialog>
    </>
  );
}
