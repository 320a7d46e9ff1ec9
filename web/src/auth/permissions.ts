/**
 * The API's permissions (API key scopes are permissions too). The server owns the catalogue —
 * names, what each allows and the domain it belongs to — and serves it at GET /auth/permissions;
 * the dashboard only arranges it for people.
 */
import type { Schemas } from "../api/client";

export type PermissionCatalog = Schemas["PermissionCatalogOut"];
export type PermissionInfo = Schemas["PermissionOut"];
export type Permission = PermissionInfo["name"];

export interface PermissionGroup {
  /** The server's domain key the group stands for. */
  domain: string;
  label: string;
  permissions: { name: string; description: string }[];
}

/**
 * Groups permission names by the domain the catalogue gives them, in catalogue order. A name the
 * catalogue does not know (a newer server, a retired scope on an old key) is kept, after the known
 * ones, under the part before its colon and described by its own name.
 */
export function groupPermissions(catalog: readonly PermissionInfo[], names: readonly string[]): PermissionGroup[] {
  const known = new Map(catalog.map((info, index) => [info.name as string, { info, index }]));
  const labels = new Map(catalog.map((info) => [info.domain, info.domain_label || info.domain]));
  const rank = (name: string) => known.get(name)?.index ?? catalog.length;
  const ordered = [...new Set(names)].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const groups = new Map<string, PermissionGroup>();
  for (const name of ordered) {
    const info = known.get(name)?.info;
    const domain = info?.domain ?? name.split(":")[0] ?? name;
    const group = groups.get(domain) ?? { domain, label: labels.get(domain) ?? domain, permissions: [] };
    group.permissions.push({ name, description: info?.description ?? name });
    groups.set(domain, group);
  }
  return [...groups.values()];
}
