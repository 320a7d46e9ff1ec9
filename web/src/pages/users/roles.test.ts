import { describe, expect, it } from "vitest";

import { generatePassword } from "./roles";

describe("generatePassword", () => {
  it("makes long, distinct passwords from the unambiguous alphabet", () => {
    const seen = new Set(Array.from({ length: 50 }, () => generatePassword()));
    expect(seen.size).toBe(50);
    for (const password of seen) expect(password).toMatch(/^[A-HJ-NP-Za-km-z2-9]{20}$/);
  });
});
