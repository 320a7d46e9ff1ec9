import { beforeEach, describe, expect, it } from "vitest";

import { ApiError, NetworkError } from "../api/errors";
import { AuthSession, type KeyValueStore, REFRESH_TOKEN_KEY } from "./session";

const BASE = "http://api.test";
const TTL_SECONDS = 900;

class MemoryStore implements KeyValueStore {
  readonly values = new Map<string, string>();
  getItem(key: string): string | null {
    return this.values.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.values.set(key, value);
  }
  removeItem(key: string): void {
    this.values.delete(key);
  }
}

function problem(status: number, code: string, detail: string): Response {
  return new Response(JSON.stringify({ title: "Unauthorized", status, code, detail, request_id: "r1" }), {
    status,
    headers: { "Content-Type": "application/problem+json" },
  });
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

/**
 * A fake API speaking the auth contract: single-use refresh tokens (reuse revokes everything),
 * access tokens that expire on the shared fake clock, and a protected echo endpoint.
 */
class FakeApi {
  clock = 1_000_000;
  private counter = 0;
  private readonly access = new Map<string, number>();
  private readonly refreshTokens = new Set<string>();
  readonly usedRefreshTokens = new Set<string>();
  refreshCalls = 0;
  logoutCalls: { bearer: string | null; body: unknown }[] = [];
  seenBearers: string[] = [];
  /** While set, refresh responses wait for it (to hold several callers at the same time). */
  refreshGate: Promise<void> | null = null;
  refreshFailure: Response | null = null;

  readonly send = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    if (path === "/api/v1/auth/login") {
      const body = (await request.json()) as { email: string; password: string };
      if (body.password !== "correct horse battery") return problem(401, "invalid_credentials", "bad login");
      return json(this.issue());
    }
    if (path === "/api/v1/auth/refresh") {
      this.refreshCalls += 1;
      const { refresh_token } = (await request.json()) as { refresh_token: string };
      if (this.refreshGate) await this.refreshGate;
      if (this.refreshFailure) return this.refreshFailure.clone();
      if (this.usedRefreshTokens.has(refresh_token)) {
        this.revokeAll();
        return problem(401, "refresh_token_reused", "refresh token reused; session revoked");
      }
      if (!this.refreshTokens.delete(refresh_token)) return problem(401, "invalid_token", "invalid refresh token");
      this.usedRefreshTokens.add(refresh_token);
      return json(this.issue());
    }
    const bearer = request.headers.get("Authorization")?.replace(/^Bearer /, "") ?? null;
    if (path === "/api/v1/auth/logout") {
      this.logoutCalls.push({ bearer, body: await request.json() });
      return new Response(null, { status: 204 });
    }
    if (bearer === null) return problem(401, "unauthenticated", "authentication required");
    this.seenBearers.push(bearer);
    const expiresAt = this.access.get(bearer);
    if (expiresAt === undefined || expiresAt <= this.clock) return problem(401, "invalid_token", "token expired");
    if (path === "/api/v1/forbidden") return problem(403, "insufficient_permissions", "nope");
    if (path === "/api/v1/revoked") return problem(401, "session_revoked", "session revoked");
    const body = request.method === "GET" ? null : await request.text();
    return json({ ok: true, method: request.method, body });
  };

  expireAllAccessTokens(): void {
    for (const token of this.access.keys()) this.access.set(token, this.clock);
  }

  private issue() {
    this.counter += 1;
    const access = `access-${this.counter}`;
    const refresh = `refresh-${this.counter}`;
    this.access.set(access, this.clock + TTL_SECONDS * 1000);
    this.refreshTokens.add(refresh);
    return { access_token: access, refresh_token: refresh, token_type: "bearer", expires_in: TTL_SECONDS };
  }

  private revokeAll(): void {
    this.access.clear();
    this.refreshTokens.clear();
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe("AuthSession", () => {
  let api: FakeApi;
  let storage: MemoryStore;
  let session: AuthSession;

  const newSession = () =>
    new AuthSession({ baseUrl: BASE, send: api.send, storage, now: () => api.clock, refreshMarginMs: 60_000 });
  const get = (path = "/api/v1/thing") => session.fetch(new Request(`${BASE}${path}`));

  beforeEach(async () => {
    api = new FakeApi();
    storage = new MemoryStore();
    session = newSession();
    await session.login({ tenant: "acme", email: "owner@acme.example", password: "correct horse battery" });
  });

  it("keeps the refresh token in storage and the access token only in memory", async () => {
    expect([...storage.values.entries()]).toEqual([[REFRESH_TOKEN_KEY, "refresh-1"]]);
    const response = await get();
    expect(response.status).toBe(200);
    expect(api.seenBearers).toEqual(["access-1"]);
  });

  it("reports a failed login with the server's detail and stays signed out", async () => {
    const fresh = new AuthSession({ baseUrl: BASE, send: api.send, storage: new MemoryStore() });
    const failure = fresh.login({ email: "x@y.z", password: "wrong" });
    await expect(failure).rejects.toBeInstanceOf(ApiError);
    await expect(failure).rejects.toMatchObject({ status: 401, code: "invalid_credentials", message: "bad login" });
    expect(fresh.hasSession).toBe(false);
  });

  it("refreshes before the access token expires, once for many concurrent requests", async () => {
    api.clock += (TTL_SECONDS - 30) * 1000; // inside the one-minute margin, not yet expired
    const gate = deferred();
    api.refreshGate = gate.promise;
    const pending = Promise.all([get(), get(), get(), get(), get()]);
    await new Promise((r) => setTimeout(r, 0));
    gate.resolve();
    const responses = await pending;
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(api.refreshCalls).toBe(1);
    expect(new Set(api.seenBearers)).toEqual(new Set(["access-2"]));
    expect(storage.getItem(REFRESH_TOKEN_KEY)).toBe("refresh-2");
  });

  it("on 401 invalid_token refreshes once for all callers and retries each request with its body", async () => {
    api.expireAllAccessTokens(); // the server rejects a token the client still thinks is valid
    const gate = deferred();
    api.refreshGate = gate.promise;
    const post = (n: number) =>
      session.fetch(
        new Request(`${BASE}/api/v1/things`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ n }),
        }),
      );
    const pending = Promise.all([post(1), post(2), post(3)]);
    await new Promise((r) => setTimeout(r, 10));
    gate.resolve();
    const bodies = await Promise.all((await pending).map((r) => r.json()));
    expect(bodies).toEqual([1, 2, 3].map((n) => ({ ok: true, method: "POST", body: JSON.stringify({ n }) })));
    expect(api.refreshCalls).toBe(1);
    expect(api.usedRefreshTokens).toEqual(new Set(["refresh-1"]));
  });

  it("neither refreshes nor signs out on a 403", async () => {
    const response = await get("/api/v1/forbidden");
    expect(response.status).toBe(403);
    expect(api.refreshCalls).toBe(0);
    expect(session.hasSession).toBe(true);
  });

  it("signs out without refreshing when the server says the session is over", async () => {
    const events: boolean[] = [];
    session.subscribe((signedIn) => events.push(signedIn));
    const response = await get("/api/v1/revoked");
    expect(response.status).toBe(401);
    expect(api.refreshCalls).toBe(0);
    expect(session.hasSession).toBe(false);
    expect(events).toEqual([false]);
  });

  it("signs out and tells listeners when the refresh token is rejected", async () => {
    const events: boolean[] = [];
    session.subscribe((signedIn) => events.push(signedIn));
    api.refreshFailure = problem(401, "session_revoked", "session revoked");
    api.expireAllAccessTokens();
    const response = await get();
    expect(response.status).toBe(401);
    expect(api.refreshCalls).toBe(1);
    expect(session.hasSession).toBe(false);
    expect(storage.getItem(REFRESH_TOKEN_KEY)).toBeNull();
    expect(events).toEqual([false]);
  });

  it("keeps the session when a refresh fails transiently", async () => {
    api.refreshFailure = problem(503, "service_unavailable", "try later");
    api.clock += TTL_SECONDS * 1000; // expired: no token to fall back on
    await expect(session.getAccessToken()).rejects.toMatchObject({ status: 503, code: "service_unavailable" });
    expect(storage.getItem(REFRESH_TOKEN_KEY)).toBe("refresh-1");
    api.refreshFailure = null;
    expect(await session.getAccessToken()).toBe("access-2");
  });

  it("falls back to the still-valid token when an early refresh cannot reach the server", async () => {
    api.clock += (TTL_SECONDS - 30) * 1000;
    const offline = new AuthSession({
      baseUrl: BASE,
      storage,
      now: () => api.clock,
      send: (request) =>
        new URL(request.url).pathname === "/api/v1/auth/refresh"
          ? Promise.reject(new TypeError("Failed to fetch"))
          : api.send(request),
    });
    await offline.login({ email: "owner@acme.example", password: "correct horse battery" });
    api.clock += (TTL_SECONDS - 30) * 1000;
    expect(await offline.getAccessToken()).toBe("access-2");
    api.clock += 60_000;
    await expect(offline.getAccessToken()).rejects.toBeInstanceOf(NetworkError);
  });

  it("restores the session after a reload from the stored refresh token", async () => {
    const reloaded = newSession();
    expect(reloaded.hasSession).toBe(true);
    const response = await reloaded.fetch(new Request(`${BASE}/api/v1/thing`));
    expect(response.status).toBe(200);
    expect(api.refreshCalls).toBe(1);
    expect(api.seenBearers).toEqual(["access-2"]);
  });

  it("logs out on the server and forgets the tokens even if the server is unreachable", async () => {
    await session.logout();
    expect(api.logoutCalls).toEqual([{ bearer: "access-1", body: { refresh_token: "refresh-1" } }]);
    expect(session.hasSession).toBe(false);
    expect(storage.values.size).toBe(0);

    const broken = new AuthSession({
      baseUrl: BASE,
      storage,
      send: (request) =>
        new URL(request.url).pathname === "/api/v1/auth/logout"
          ? Promise.reject(new TypeError("Failed to fetch"))
          : api.send(request),
    });
    await broken.login({ email: "owner@acme.example", password: "correct horse battery" });
    await broken.logout();
    expect(broken.hasSession).toBe(false);
    expect(storage.values.size).toBe(0);
  });
});
