import { describe, expect, it } from "vitest";

import { groupPermissions } from "./permissions";

describe("groupPermissions", () => {
  it("groups scopes by domain in catalogue order and keeps unknown ones", () => {
    const groups = groupPermissions(["inbox:write", "users:write", "chat:read", "zeta:read", "users:read"]);
    expect(groups.map((g) => g.label)).toEqual(["Users", "Chat", "zeta"]);
    expect(groups[0]?.permissions.map((p) => p.name)).toEqual(["users:read", "users:write"]);
    expect(groups[1]?.permissions.map((p) => p.name)).toEqual(["chat:read", "inbox:write"]);
    expect(groups[2]?.permissions[0]).toEqual({ name: "zeta:read", description: "zeta:read" });
  });
});
