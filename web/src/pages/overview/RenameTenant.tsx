import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import { api, type Tenant, unwrap } from "../../api/client";
import { Button } from "../../components/Button";
import { Dialog } from "../../components/Dialog";
import { ErrorAlert } from "../../components/feedback";
import { TextField } from "../../components/Field";
import { TENANT_QUERY_KEY } from "./queries";

export function RenameTenant({ tenant }: { tenant: Tenant }) {
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState(tenant.name);
  const rename = useMutation({
    mutationFn: () => unwrap(api.PATCH("/api/v1/tenant", { body: { name: name.trim() } })),
    onSuccess: (updated) => {
      queryClient.setQueryData(TENANT_QUERY_KEY, updated);
      setOpen(false);
    },
  });
  const close = () => {
    setOpen(false);
    rename.reset();
  };
  return (
    <>
      <Button
        variant="secondary"
        onClick={() => {
          setName(tenant.name);
          setOpen(true);
        }}
      >
        Rename
      </Button>
      <Dialog
        open={open}
        title="Rename organisation"
        onClose={close}
        onSubmit={() => rename.mutate()}
        footer={
          <>
            <Button variant="secondary" onClick={close}>
              Cancel
            </Button>
            <Button type="submit" loading={rename.isPending}>
              Save
            </Button>
          </>
        }
      >
        <TextField
          label="Name"
          required
          maxLength={200}
          value={name}
          onChange={(event) => setName(event.target.value)}
          autoFocus
        />
        {rename.isError && <ErrorAlert error={rename.error} />}
      </Dialog>
    </>
  );
}
