import { describe, expect, it } from "vitest";

import { slugify } from "./CreateTenantDialog";

describe("slugify", () => {
  it("turns a display name into a valid tenant slug", () => {
    expect(slugify("Acme Corp.")).toBe("acme-corp");
    expect(slugify("  Ünïcode & Co  ")).toBe("unicode-co");
    expect(slugify("x".repeat(39) + " tail")).toBe("x".repeat(39));
  });
});
