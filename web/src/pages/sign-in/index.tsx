import { type FormEvent, useEffect, useState } from "react";
import { Navigate, useNavigate, useSearchParams } from "react-router";

import { useAuth } from "../../auth/context";
import { Button } from "../../components/Button";
import { ErrorAlert } from "../../components/feedback";
import { Checkbox, TextField } from "../../components/Field";
import { Logo } from "../../components/icons";

const LAST_TENANT_KEY = "aiaas.last_tenant";

function lastTenant(): string {
  try {
    return window.localStorage.getItem(LAST_TENANT_KEY) ?? "";
  } catch {
    return "";
  }
}

/** Only same-site paths may be followed after signing in. */
function safeNext(value: string | null): string {
  return value && value.startsWith("/") && !value.startsWith("//") ? value : "/";
}

export default function SignInPage() {
  const auth = useAuth();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const next = safeNext(params.get("next"));
  const [platformAdmin, setPlatformAdmin] = useState(false);
  const [tenant, setTenant] = useState(lastTenant);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    document.title = "Sign in · aiaas";
  }, []);

  if (auth.status === "signed-in" && !pending) return <Navigate to={next} replace />;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setPending(true);
    setError(null);
    try {
      const slug = tenant.trim().toLowerCase();
      await auth.signIn({ tenant: platformAdmin ? undefined : slug, email: email.trim(), password });
      if (!platformAdmin) {
        try {
          window.localStorage.setItem(LAST_TENANT_KEY, slug);
        } catch {
          // Remembering the organisation is a convenience only.
        }
      }
      navigate(next, { replace: true });
    } catch (caught) {
      setError(caught);
      setPending(false);
    }
  };

  return (
    <div className="flex min-h-screen items-center justify-center bg-gradient-to-b from-slate-100 to-slate-200 px-4 py-12">
      <div className="w-full max-w-sm">
        <div className="mb-6 flex flex-col items-center gap-3 text-center">
          <Logo />
          <h1 className="text-2xl font-semibold tracking-tight text-slate-900">Sign in to aiaas</h1>
          <p className="text-sm text-slate-500">
            {platformAdmin ? "Platform administration" : "Your organisation's support dashboard"}
          </p>
        </div>
        <form
          onSubmit={submit}
          className="space-y-5 rounded-lg border border-slate-200 bg-white p-6 shadow-sm"
          aria-describedby={error ? "sign-in-error" : undefined}
        >
          {!platformAdmin && (
            <TextField
              label="Organisation"
              name="tenant"
              autoComplete="organization"
              required
              pattern="[a-z0-9](?:[a-z0-9\-]{0,38}[a-z0-9])?"
              hint="The short name of your organisation, e.g. acme"
              value={tenant}
              onChange={(event) => setTenant(event.target.value)}
              autoFocus={!tenant}
            />
          )}
          <TextField
            label="Email"
            name="email"
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(event) => setEmail(event.target.value)}
            autoFocus={platformAdmin || Boolean(tenant)}
          />
          <TextField
            label="Password"
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(event) => setPassword(event.target.value)}
          />
          <Checkbox
            label="Sign in as a platform admin"
            description="Operators of this installation; no organisation needed."
            checked={platformAdmin}
            onChange={(event) => setPlatformAdmin(event.target.checked)}
          />
          {error != null && (
            <div id="sign-in-error">
              <ErrorAlert error={error} />
            </div>
          )}
          <Button type="submit" className="w-full" loading={pending}>
            Sign in
          </Button>
        </form>
      </div>
    </div>
  );
}
