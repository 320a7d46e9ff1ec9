import { useQuery, useQueryClient } from "@tanstack/react-query";
import { type ReactNode, useCallback, useEffect, useMemo, useState } from "react";

import { api, type Me, session, unwrap } from "../api/client";
import { ApiError } from "../api/errors";
import { type AuthState, AuthContext, type AuthStatus } from "./context";
import type { Credentials } from "./session";

export const ME_QUERY_KEY = ["auth", "me"] as const;

const fetchMe = () => unwrap(api.GET("/api/v1/auth/me"));

export function AuthProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [signedIn, setSignedIn] = useState(session.hasSession);

  useEffect(
    () =>
      session.subscribe((now) => {
        setSignedIn(now);
        // Nothing fetched for one principal may be shown to the next.
        if (!now) queryClient.clear();
      }),
    [queryClient],
  );

  const me = useQuery({
    queryKey: ME_QUERY_KEY,
    queryFn: fetchMe,
    enabled: signedIn,
    staleTime: 5 * 60_000,
    retry: (failures, error) => !(error instanceof ApiError && error.status < 500) && failures < 2,
  });

  const signIn = useCallback(
    async (credentials: Credentials): Promise<Me> => {
      await session.login(credentials);
      return queryClient.fetchQuery({ queryKey: ME_QUERY_KEY, queryFn: fetchMe });
    },
    [queryClient],
  );

  const signOut = useCallback(async () => {
    await session.logout();
    queryClient.clear();
    setSignedIn(false);
  }, [queryClient]);

  const value = useMemo<AuthState>(() => {
    let status: AuthStatus = "signed-out";
    if (signedIn) status = me.data ? "signed-in" : me.isError ? "error" : "loading";
    const permissions = new Set(me.data?.permissions ?? []);
    return {
      status,
      me: signedIn ? (me.data ?? null) : null,
      error: me.error,
      signIn,
      signOut,
      retry: () => void me.refetch(),
      can: (...needed) => needed.every((p) => permissions.has(p)),
      isPlatformAdmin: me.data?.kind === "platform_admin",
    };
  }, [signedIn, me, signIn, signOut]);

  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}
