import { useQuery } from "@tanstack/react-query";

import { api, unwrap } from "../api/client";
import type { PermissionCatalog } from "./permissions";

export const PERMISSION_CATALOG_QUERY_KEY = ["permission-catalog"] as const;

/** Loads the catalogue of permissions and roles once; it changes only with a server release. */
export function usePermissionCatalog() {
  return useQuery<PermissionCatalog>({
    queryKey: PERMISSION_CATALOG_QUERY_KEY,
    queryFn: () => unwrap(api.GET("/api/v1/auth/permissions")),
    staleTime: Infinity,
    gcTime: Infinity,
  });
}
