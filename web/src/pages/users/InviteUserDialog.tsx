import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import { api, type Role, unwrap } from "../../api/client";
import { Button } from "../../components/Button";
import { Dialog } from "../../components/Dialog";
import { ErrorAlert, Notice } from "../../components/feedback";
import { SelectField, TextField } from "../../components/Field";
import { generatePassword, ROLES } from "./roles";

const MIN_PASSWORD = 12;

export function InviteUserDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [email, setEmail] = useState("");
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("agent");
  const [password, setPassword] = useState(generatePassword);
  const invite = useMutation({
    mutationFn: () =>
      unwrap(api.POST("/api/v1/users", { body: { email: email.trim(), name: name.trim(), role, password } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["users"] }),
  });

  const close = () => {
    setEmail("");
    setName("");
    setRole("agent");
    setPassword(generatePassword());
    invite.reset();
    onClose();
  };

  if (invite.isSuccess) {
    return (
      <Dialog
        open={open}
        title="User invited"
        onClose={close}
        footer={<Button onClick={close}>Done</Button>}
      >
        <Notice tone="success">
          <span className="font-medium">{invite.data.email}</span> can now sign in with the password you chose. Send it
          to them over a channel you trust; they can change it later.
        </Notice>
      </Dialog>
    );
  }

  const tooShort = password.length > 0 && password.length < MIN_PASSWORD;
  return (
    <Dialog
      open={open}
      title="Invite a user"
      description="The user signs in with this organisation's name, their email and the password below."
      onClose={close}
      onSubmit={() => !tooShort && invite.mutate()}
      footer={
        <>
          <Button variant="secondary" onClick={close}>
            Cancel
          </Button>
          <Button type="submit" loading={invite.isPending}>
            Invite
          </Button>
        </>
      }
    >
      <TextField
        label="Email"
        type="email"
        required
        autoComplete="off"
        value={email}
        onChange={(event) => setEmail(event.target.value)}
        autoFocus
      />
      <TextField label="Name" maxLength={200} value={name} onChange={(event) => setName(event.target.value)} />
      <SelectField
        label="Role"
        value={role}
        onChange={(event) => setRole(event.target.value as Role)}
        options={ROLES.map((r) => ({ value: r.value, label: `${r.label} — ${r.description}` }))}
      />
      <div className="flex items-end gap-2">
        <div className="flex-1">
          <TextField
            label="Initial password"
            required
            minLength={MIN_PASSWORD}
            autoComplete="new-password"
            className="font-mono"
            value={password}
            onChange={(event) => setPassword(event.target.value)}
            error={tooShort ? `At least ${MIN_PASSWORD} characters` : null}
          />
        </div>
        <Button variant="secondary" onClick={() => setPassword(generatePassword())} className="mb-px">
          Generate
        </Button>
      </div>
      {invite.isError && <ErrorAlert error={invite.error} />}
    </Dialog>
  );
}
