import { createContext, useContext } from "react";

import type { Me } from "../api/client";
import type { Credentials } from "./session";

export type AuthStatus = "signed-out" | "loading" | "signed-in" | "error";

export interface AuthState {
  status: AuthStatus;
  me: Me | null;
  /** Why the current principal could not be loaded (status "error"). */
  error: unknown;
  signIn(credentials: Credentials): Promise<Me>;
  signOut(): Promise<void>;
  retry(): void;
  /** True when the principal holds every one of `permissions`. */
  can(...permissions: string[]): boolean;
  isPlatformAdmin: boolean;
}

export const AuthContext = createContext<AuthState | null>(null);

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (state === null) throw new Error("useAuth must be used inside <AuthProvider>");
  return state;
}
