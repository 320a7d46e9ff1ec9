import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";

import { api, type ApiKeyCreated, unwrap } from "../../api/client";
import { useAuth } from "../../auth/context";
import { groupPermissions } from "../../auth/permissions";
import { usePermissionCatalog } from "../../auth/usePermissionCatalog";
import { Button } from "../../components/Button";
import { Dialog } from "../../components/Dialog";
import { ErrorAlert, LoadingState } from "../../components/feedback";
import { Checkbox, TextField } from "../../components/Field";
import { endOfLocalDayIso } from "../../lib/format";

interface Props {
  open: boolean;
  onClose: () => void;
  onCreated: (key: ApiKeyCreated) => void;
}

function todayIso(): string {
  const now = new Date();
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

export function CreateKeyDialog({ open, onClose, onCreated }: Props) {
  const auth = useAuth();
  const queryClient = useQueryClient();
  const catalog = usePermissionCatalog();
  // A key can hold at most the permissions of the person creating it.
  const groups = useMemo(
    () => (catalog.data ? groupPermissions(catalog.data.permissions, auth.me?.permissions ?? []) : []),
    [catalog.data, auth.me],
  );
  const [name, setName] = useState("");
  const [expires, setExpires] = useState("");
  const [scopes, setScopes] = useState<Set<string>>(new Set());
  const [scopeError, setScopeError] = useState<string | null>(null);

  const create = useMutation({
    mutationFn: () =>
      unwrap(
        api.POST("/api/v1/api-keys", {
          body: {
            name: name.trim(),
            scopes: [...scopes].sort(),
            expires_at: expires ? endOfLocalDayIso(expires) : null,
          },
        }),
      ),
    onSuccess: (key) => {
      void queryClient.invalidateQueries({ queryKey: ["api-keys"] });
      reset();
      onCreated(key);
    },
  });

  const reset = () => {
    setName("");
    setExpires("");
    setScopes(new Set());
    setScopeError(null);
    create.reset();
  };

  const close = () => {
    reset();
    onClose();
  };

  const toggle = (names: string[], on: boolean) => {
    setScopes((current) => {
      const next = new Set(current);
      for (const scope of names) {
        if (on) next.add(scope);
        else next.delete(scope);
      }
      return next;
    });
    setScopeError(null);
  };

  const submit = () => {
    if (scopes.size === 0) {
      setScopeError("Choose at least one scope.");
      return;
    }
    create.mutate();
  };

  const allNames = groups.flatMap((group) => group.permissions.map((p) => p.name));
  const readNames = allNames.filter((scope) => scope.endsWith(":read"));

  return (
    <Dialog
      open={open}
      wide
      title="Create an API key"
      description="Keys authenticate servers and scripts. Give each one only the scopes it needs."
      onClose={close}
      onSubmit={submit}
      footer={
        <>
          <Button variant="secondary" onClick={close}>
            Cancel
          </Button>
          <Button type="submit" loading={create.isPending}>
            Create key
          </Button>
        </>
      }
    >
      <div className="grid gap-4 sm:grid-cols-2">
        <TextField
          label="Name"
          required
          maxLength={200}
          placeholder="e.g. Helpdesk integration"
          value={name}
          onChange={(event) => setName(event.target.value)}
          autoFocus
        />
        <TextField
          label="Expires on (optional)"
          type="date"
          min={todayIso()}
          hint="Leave empty for a key that does not expire."
          value={expires}
          onChange={(event) => setExpires(event.target.value)}
        />
      </div>
      <fieldset aria-describedby={scopeError ? "scope-error" : undefined}>
        <div className="flex flex-wrap items-center justify-between gap-2">
          <legend className="text-sm font-medium text-slate-800">Scopes</legend>
          <div className="flex gap-2">
            <Button variant="ghost" size="sm" disabled={!catalog.data} onClick={() => setScopes(new Set(readNames))}>
              Read-only
            </Button>
            <Button variant="ghost" size="sm" disabled={!catalog.data} onClick={() => setScopes(new Set(allNames))}>
              All
            </Button>
            <Button variant="ghost" size="sm" onClick={() => setScopes(new Set())}>
              None
            </Button>
          </div>
        </div>
        {scopeError && (
          <p id="scope-error" className="mt-1 text-xs text-red-600">
            {scopeError}
          </p>
        )}
        {catalog.isPending && <LoadingState label="Loading scopes…" />}
        {catalog.isError && (
          <ErrorAlert title="Could not load the scopes" error={catalog.error} onRetry={() => void catalog.refetch()} />
        )}
        <div className="mt-3 grid gap-3 sm:grid-cols-2">
          {groups.map((group) => {
            const names = group.permissions.map((p) => p.name);
            const chosen = names.filter((scope) => scopes.has(scope)).length;
            return (
              <div key={group.domain} className="rounded-md border border-slate-200 p-3">
                <Checkbox
                  label={group.label}
                  checked={chosen === names.length}
                  ref={(input) => {
                    if (input) input.indeterminate = chosen > 0 && chosen < names.length;
                  }}
                  onChange={(event) => toggle(names, event.target.checked)}
                />
                <div className="mt-2 space-y-2 border-t border-slate-100 pl-6 pt-2">
                  {group.permissions.map((permission) => (
                    <Checkbox
                      key={permission.name}
                      label={<code className="font-mono text-xs">{permission.name}</code>}
                      description={permission.description}
                      checked={scopes.has(permission.name)}
                      onChange={(event) => toggle([permission.name], event.target.checked)}
                    />
                  ))}
                </div>
              </div>
            );
          })}
        </div>
      </fieldset>
      {create.isError && <ErrorAlert error={create.error} />}
    </Dialog>
  );
}
