/** The typed API client (generated types + openapi-fetch) sharing the signed-in session. */
import createClient from "openapi-fetch";

import { AuthSession, type KeyValueStore } from "../auth/session";
import { toApiError } from "./errors";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Me = Schemas["MeOut"];
export type Tenant = Schemas["TenantOut"];
export type User = Schemas["UserOut"];
export type Role = Schemas["Role"];
export type ApiKey = Schemas["ApiKeyOut"];
export type ApiKeyCreated = Schemas["ApiKeyCreated"];
export type AuditEntry = Schemas["AuditLogEntryOut"];
export type EventType = Schemas["EventTypeOut"];

function browserSessionStorage(): KeyValueStore | null {
  try {
    return typeof window === "undefined" ? null : window.sessionStorage;
  } catch {
    return null; // storage disabled by the browser's privacy settings
  }
}

export const session = new AuthSession({ storage: browserSessionStorage() });

export const api = createClient<paths>({ fetch: session.fetch });

interface ApiResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** Awaits an openapi-fetch call and returns its data, throwing an ApiError for a problem answer. */
export async function unwrap<T>(call: Promise<ApiResult<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (error !== undefined || !response.ok) throw toApiError(error, response);
  return data as T;
}
