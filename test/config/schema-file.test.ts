import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SCHEMA_FILE, schemaFileText } from "../../scripts/write-schema.ts";
import { configSchemaJson } from "../../src/config/describe.ts";

describe("schemas/rate-sync.schema.json", () => {
  it("is the schema generated from the zod schemas (run `npx tsx scripts/write-schema.ts` to update it)", () => {
    expect(readFileSync(SCHEMA_FILE, "utf8")).toBe(schemaFileText());
  });

  it("describes the file as a user writes it", () => {
    const schema = configSchemaJson() as {
      properties: {
        limiters: {
          additionalProperties: {
            properties: Record<string, { anyOf?: unknown[]; type?: string }>;
            additionalProperties: boolean;
          };
        };
      };
    };
    const limiter = schema.properties.limiters.additionalProperties;
    expect(limiter.additionalProperties).toBe(false);
    expect(limiter.properties.rate?.anyOf).toContainEqual(expect.objectContaining({ type: "string" }));
    // Every number carries its documented range (README, "Ranges of numbers"), durations in seconds.
    expect(limiter.properties.limit?.anyOf).toContainEqual({ type: "integer", minimum: 1, maximum: 1e12 });
    expect(limiter.properties.window?.anyOf).toContainEqual({
      type: "number",
      minimum: 0.001,
      maximum: 315_360_000,
    });
    expect(limiter.properties.timeout?.anyOf).toContainEqual({
      type: "number",
      minimum: 0,
      maximum: 315_360_000,
    });
    expect(limiter.properties.shadow?.anyOf).toContainEqual({ type: "boolean" });
  });
});
