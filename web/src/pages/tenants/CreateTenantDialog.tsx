import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type ChangeEvent, useState } from "react";

import { api, unwrap } from "../../api/client";
import { Button } from "../../components/Button";
import { Dialog } from "../../components/Dialog";
import { ErrorAlert } from "../../components/feedback";
import { TextField } from "../../components/Field";

const SLUG_PATTERN = "[a-z0-9](?:[a-z0-9\\-]{0,38}[a-z0-9])?";
const MIN_PASSWORD = 12;

const EMPTY = { slug: "", name: "", plan: "", owner_email: "", owner_name: "", owner_password: "" };

/** Derives a slug from a display name: lower case, hyphens for runs of other characters. */
export function slugify(name: string): string {
  return name
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40)
    .replace(/-+$/g, "");
}

export function CreateTenantDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [form, setForm] = useState(EMPTY);
  const [slugEdited, setSlugEdited] = useState(false);
  const create = useMutation({
    mutationFn: () =>
      unwrap(
        api.POST("/api/v1/tenants", {
          body: {
            slug: form.slug,
            name: form.name.trim(),
            plan: form.plan.trim() || null,
            owner_email: form.owner_email.trim(),
            owner_name: form.owner_name.trim(),
            owner_password: form.owner_password,
          },
        }),
      ),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["tenants"] });
      close();
    },
  });

  const close = () => {
    setForm(EMPTY);
    setSlugEdited(false);
    create.reset();
    onClose();
  };

  const set = (field: keyof typeof EMPTY) => (event: ChangeEvent<HTMLInputElement>) =>
    setForm((current) => ({ ...current, [field]: event.target.value }));

  const shortPassword = form.owner_password.length > 0 && form.owner_password.length < MIN_PASSWORD;

  return (
    <Dialog
      open={open}
      title="Create a tenant"
      description="A new organisation with its first owner, who can then invite the rest of the team."
      onClose={close}
      onSubmit={() => !shortPassword && create.mutate()}
      footer={
        <>
          <Button variant="secondary" onClick={close}>
            Cancel
          </Button>
          <Button type="submit" loading={create.isPending}>
            Create tenant
          </Button>
        </>
      }
    >
      <TextField
        label="Name"
        required
        maxLength={200}
        value={form.name}
        onChange={(event) => {
          const name = event.target.value;
          setForm((current) => ({ ...current, name, slug: slugEdited ? current.slug : slugify(name) }));
        }}
        autoFocus
      />
      <TextField
        label="Slug"
        required
        pattern={SLUG_PATTERN}
        maxLength={40}
        hint="Used to sign in: 1–40 of a–z, 0–9 and inner hyphens."
        value={form.slug}
        onChange={(event) => {
          setSlugEdited(true);
          setForm((current) => ({ ...current, slug: event.target.value }));
        }}
      />
      <TextField
        label="Plan (optional)"
        maxLength={40}
        hint="Leave empty for the installation's default plan."
        value={form.plan}
        onChange={set("plan")}
      />
      <div className="grid gap-4 sm:grid-cols-2">
        <TextField label="Owner email" type="email" required value={form.owner_email} onChange={set("owner_email")} />
        <TextField label="Owner name" maxLength={200} value={form.owner_name} onChange={set("owner_name")} />
      </div>
      <TextField
        label="Owner password"
        type="password"
        autoComplete="new-password"
        required
        minLength={MIN_PASSWORD}
        value={form.owner_password}
        onChange={set("owner_password")}
        error={shortPassword ? `At least ${MIN_PASSWORD} characters` : null}
      />
      {create.isError && <ErrorAlert error={create.error} />}
    </Dialog>
  );
}
