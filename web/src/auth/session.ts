/**
 * The signed-in session: an access token held in memory, a refresh token in sessionStorage.
 *
 * Refresh tokens are single use on the server (a second use ends the whole session), so every
 * refresh goes through one in-flight promise: concurrent callers share it instead of racing.
 * Tokens are refreshed shortly before the access token expires, and once more when the API
 * answers 401 `invalid_token` (clock skew, a restarted server), after which the request is
 * retried once. Any other 401 to a request that carried a token means the server ended the
 * session, so the session signs out.
 */
import { ApiError, NetworkError, readProblem } from "../api/errors";

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
}

export interface Credentials {
  /** Tenant slug; omitted for a platform admin. */
  tenant?: string;
  email: string;
  password: string;
}

/** The slice of the Web Storage API the session needs (sessionStorage in the browser). */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export type Send = (request: Request) => Promise<Response>;
type Listener = (signedIn: boolean) => void;

export interface AuthSessionOptions {
  /** Origin (and optional prefix) of the API; "" for the page's own origin. */
  baseUrl?: string;
  send?: Send;
  storage?: KeyValueStore | null;
  now?: () => number;
  /** Refresh when the access token has less than this left (capped at half its lifetime). */
  refreshMarginMs?: number;
}

export const REFRESH_TOKEN_KEY = "aiaas.refresh_token";
const DEFAULT_REFRESH_MARGIN_MS = 60_000;
const REFRESH_REJECTED = new Set([400, 401, 403, 422]);

export class AuthSession {
  private readonly baseUrl: string;
  private readonly send: Send;
  private readonly storage: KeyValueStore | null;
  private readonly now: () => number;
  private readonly margin: number;
  private accessToken: string | null = null;
  private accessExpiresAt = 0;
  private refreshAt = 0;
  private memoryRefreshToken: string | null = null;
  private inflight: Promise<string | null> | null = null;
  private readonly listeners = new Set<Listener>();

  constructor(options: AuthSessionOptions = {}) {
    this.baseUrl = (options.baseUrl ?? "").replace(/\/$/, "");
    this.send = options.send ?? ((request) => globalThis.fetch(request));
    this.storage = options.storage ?? null;
    this.now = options.now ?? Date.now;
    this.margin = options.refreshMarginMs ?? DEFAULT_REFRESH_MARGIN_MS;
  }

  /** True while there is anything to authenticate with (possibly only a refresh token). */
  get hasSession(): boolean {
    return this.accessToken !== null || this.refreshToken() !== null;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async login(credentials: Credentials): Promise<void> {
    const body: Credentials = { email: credentials.email, password: credentials.password };
    if (credentials.tenant) body.tenant = credentials.tenant;
    const response = await this.post("/api/v1/auth/login", body);
    if (!response.ok) throw new ApiError(response.status, await readProblem(response));
    this.store((await response.json()) as TokenPair);
    this.emit(true);
  }

  /** Ends the session on the server (best effort) and always forgets the tokens locally. */
  async logout(): Promise<void> {
    try {
      const token = this.isAccessValid() ? this.accessToken : await this.refresh();
      if (token) {
        const refreshToken = this.refreshToken();
        await this.post("/api/v1/auth/logout", refreshToken ? { refresh_token: refreshToken } : {}, token);
      }
    } catch {
      // Signing out must work offline too; the server-side session then simply expires.
    } finally {
      this.clear();
    }
  }

  /**
   * A usable access token: the held one, or a new one when it is missing or about to expire.
   * Null when signed out. Throws NetworkError/ApiError only when a refresh fails transiently and
   * no still-valid token is at hand.
   */
  async getAccessToken(): Promise<string | null> {
    if (this.accessToken !== null && this.now() < this.refreshAt) return this.accessToken;
    if (this.refreshToken() === null) return this.isAccessValid() ? this.accessToken : null;
    try {
      return await this.refresh();
    } catch (error) {
      if (this.isAccessValid()) return this.accessToken;
      throw error;
    }
  }

  /** Trades the refresh token for a new pair. Concurrent calls share one request. */
  refresh(): Promise<string | null> {
    if (this.inflight === null) {
      this.inflight = this.runRefresh().finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  /** A fetch for the API client: adds the bearer token, refreshes and retries once on `invalid_token`. */
  readonly fetch = async (request: Request): Promise<Response> => {
    const spare = request.clone();
    const token = await this.getAccessToken();
    const response = await this.sendWithToken(request, token);
    if (response.status !== 401 || token === null) return response;
    if ((await readProblem(response)).code !== "invalid_token") {
      // The token was read and refused (session revoked, user deactivated): the session is over.
      this.clear();
      return response;
    }
    // Another request may have refreshed while this one was in flight; use its token if so.
    const fresh =
      this.accessToken !== null && this.accessToken !== token ? this.accessToken : await this.refresh();
    if (fresh === null) return response;
    return this.sendWithToken(spare, fresh);
  };

  private async runRefresh(): Promise<string | null> {
    const refreshToken = this.refreshToken();
    if (refreshToken === null) {
      this.clear();
      return null;
    }
    const response = await this.post("/api/v1/auth/refresh", { refresh_token: refreshToken });
    if (response.ok) {
      this.store((await response.json()) as TokenPair);
      return this.accessToken;
    }
    if (REFRESH_REJECTED.has(response.status)) {
      this.clear();
      return null;
    }
    throw new ApiError(response.status, await readProblem(response));
  }

  private async sendWithToken(request: Request, token: string | null): Promise<Response> {
    const headers = new Headers(request.headers);
    if (token !== null) headers.set("Authorization", `Bearer ${token}`);
    try {
      return await this.send(new Request(request, { headers }));
    } catch (error) {
      throw new NetworkError(error);
    }
  }

  private async post(path: string, body: unknown, bearer?: string): Promise<Response> {
    const headers = new Headers({ "Content-Type": "application/json", Accept: "application/json" });
    if (bearer) headers.set("Authorization", `Bearer ${bearer}`);
    const request = new Request(`${this.baseUrl}${path}`, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
    });
    try {
      return await this.send(request);
    } catch (error) {
      throw new NetworkError(error);
    }
  }

  private isAccessValid(): boolean {
    return this.accessToken !== null && this.now() < this.accessExpiresAt;
  }

  private refreshToken(): string | null {
    try {
      return this.storage?.getItem(REFRESH_TOKEN_KEY) ?? this.memoryRefreshToken;
    } catch {
      return this.memoryRefreshToken;
    }
  }

  private store(pair: TokenPair): void {
    const issuedAt = this.now();
    const lifetime = Math.max(0, pair.expires_in) * 1000;
    this.accessToken = pair.access_token;
    this.accessExpiresAt = issuedAt + lifetime;
    this.refreshAt = issuedAt + lifetime - Math.min(this.margin, lifetime / 2);
    this.memoryRefreshToken = pair.refresh_token;
    try {
      this.storage?.setItem(REFRESH_TOKEN_KEY, pair.refresh_token);
    } catch {
      // Storage can be full or disabled; the session then lasts as long as the page.
    }
  }

  private clear(): void {
    const wasSignedIn = this.hasSession;
    this.accessToken = null;
    this.accessExpiresAt = 0;
    this.refreshAt = 0;
    this.memoryRefreshToken = null;
    try {
      this.storage?.removeItem(REFRESH_TOKEN_KEY);
    } catch {
      // Nothing to forget when storage is unavailable.
    }
    if (wasSignedIn) this.emit(false);
  }

  private emit(signedIn: boolean): void {
    for (const listener of this.listeners) listener(signedIn);
  }
}
