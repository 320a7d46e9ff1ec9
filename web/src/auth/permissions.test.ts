import { describe, expect, it } from "vitest";

import { groupPermissions, type PermissionInfo } from "./permissions";

// The shape GET /auth/permissions answers with; the order is the server's catalogue order.
const CATALOG: PermissionInfo[] = [
  { name: "tenant:read", description: "Read the tenant", domain: "tenant", domain_label: "Tenant" },
  { name: "users:read", description: "List users", domain: "users", domain_label: "Users" },
  { name: "users:write", description: "Invite users", domain: "users", domain_label: "Users" },
  { name: "chat:read", description: "Read conversations", domain: "chat", domain_label: "Chat" },
  { name: "inbox:write", description: "Answer the inbox", domain: "chat", domain_label: "Chat" },
  { name: "api_keys:read", description: "List keys", domain: "api_keys", domain_label: "" },
];

describe("groupPermissions", () => {
  it("groups by the catalogue's domain in catalogue order, whatever order the names come in", () => {
    const groups = groupPermissions(CATALOG, ["inbox:write", "users:write", "chat:read", "users:read"]);
    expect(groups.map((g) => [g.domain, g.label])).toEqual([
      ["users", "Users"],
      ["chat", "Chat"],
    ]);
    expect(groups[0]?.permissions).toEqual([
      { name: "users:read", description: "List users" },
      { name: "users:write", description: "Invite users" },
    ]);
    // inbox:write sits with chat because the server says so, not because of its prefix.
    expect(groups[1]?.permissions.map((p) => p.name)).toEqual(["chat:read", "inbox:write"]);
  });

  it("takes descriptions and labels from the catalogue it is given", () => {
    const renamed = CATALOG.map((p) => (p.domain === "chat" ? { ...p, domain_label: "Conversations" } : p));
    const [group] = groupPermissions(renamed, ["chat:read"]);
    expect(group).toEqual({
      domain: "chat",
      label: "Conversations",
      permissions: [{ name: "chat:read", description: "Read conversations" }],
    });
  });

  it("falls back to the domain key when the server sends no label", () => {
    expect(groupPermissions(CATALOG, ["api_keys:read"])[0]?.label).toBe("api_keys");
  });

  it("keeps names the catalogue does not know after the known ones, by their prefix", () => {
    const groups = groupPermissions(CATALOG, ["zeta:write", "zeta:read", "tenant:read", "chat:delete"]);
    expect(groups.map((g) => g.label)).toEqual(["Tenant", "Chat", "zeta"]);
    expect(groups[1]?.permissions).toEqual([{ name: "chat:delete", description: "chat:delete" }]);
    expect(groups[2]?.permissions.map((p) => p.name)).toEqual(["zeta:read", "zeta:write"]);
  });

  it("lists each name once and nothing for no names or an empty catalogue", () => {
    expect(groupPermissions(CATALOG, ["users:read", "users:read"])[0]?.permissions).toHaveLength(1);
    expect(groupPermissions(CATALOG, [])).toEqual([]);
    expect(groupPermissions([], ["users:read"])).toEqual([
      { domain: "users", label: "users", permissions: [{ name: "users:read", description: "users:read" }] },
    ]);
  });
});
