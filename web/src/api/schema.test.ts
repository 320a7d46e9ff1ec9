import { readFileSync } from "node:fs";

import openapiTS, { astToString } from "openapi-typescript";
import { describe, expect, it } from "vitest";

describe("generated API types", () => {
  it("match the committed OpenAPI schema (run `npm run gen:api` after changing openapi.json)", async () => {
    const generated = astToString(await openapiTS(new URL("../../openapi.json", import.meta.url)));
    const committed = readFileSync(new URL("./schema.d.ts", import.meta.url), "utf8");
    expect(committed.endsWith(generated)).toBe(true);
  });
});
