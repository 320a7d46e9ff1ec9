export const TENANT_QUERY_KEY = ["tenant"] as const;
