import { describe, expect, it } from "vitest";

import { canSee, PAGES, type Viewer } from "./pages";

const viewer = (permissions: string[], isPlatformAdmin = false): Viewer => ({
  isPlatformAdmin,
  can: (...needed) => needed.every((p) => permissions.includes(p)),
});

const visible = (v: Viewer) => PAGES.filter((page) => canSee(page, v)).map((page) => page.label);

describe("navigation", () => {
  it("shows a viewer only the pages its permissions allow", () => {
    expect(visible(viewer(["tenant:read", "events:read"]))).toEqual(["Overview", "Event catalog"]);
  });

  it("shows an owner every tenant page and no platform page", () => {
    const owner = viewer(["tenant:read", "users:read", "api_keys:read", "audit:read", "events:read"]);
    expect(visible(owner)).toEqual(["Overview", "Users", "API keys", "Audit log", "Event catalog"]);
  });

  it("shows a platform admin the overview and tenants only", () => {
    expect(visible(viewer([], true))).toEqual(["Overview", "Tenants"]);
  });
});
