import { describe, expect, it } from "vitest";
import { parseLimiterFields } from "../../src/config/fast-limiters.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { LIMITER_KEYS, limiterSchema } from "../../src/config/schema.ts";

/** Tables a file may hold: valid ones of every key, and ones zod must word an issue for. */
const TABLES: Record<string, unknown>[] = [
  { rate: "10/s" },
  { rate: "3/5min", burst: 7, store: "main", timeout: "250ms", on_store_error: "deny" },
  { burst: "5", rate: "100/min", shadow: "true", hash_keys: false },
  { rate_per_second: 2.5, fail_closed: true },
  { algorithm: "sliding_window", limit: 5, window: "5m" },
  { algorithm: "fixed_window", limit: "9", window_seconds: 30 },
  { max_concurrent: 3, lease: "2m", timeout: 0 },
  { algorithm: "gcra", rate: "1/day" },
  { rate: "10/s", block: "15m" },
  { rate: "10/s", block_escalation: ["1m", "10m", 3600, "1d"], block_memory: "2d" },
  { rate: "10/s", block_memory: 0, block_escalation: ["250ms"] },
  { rate: "10/s", block: "1m", block_escalation: { factor: "2", max: "1d" } },
  {},
  // Each of these has an issue: the fast path must leave it to zod.
  { rate: 10 },
  { rate: "ten per second" },
  { rate: "10/s", burst: 0 },
  { rate: "10/s", brust: 3 },
  { rate: "10/s", store: "" },
  { algorithm: "sliding", limit: 5, window: "5m" },
  { max_concurrent: 1.5 },
  { rate: "10/s", timeout: "forever" },
  { rate: "10/s", block: "0s" },
  { rate: "10/s", block: "25d" },
  { rate: "10/s", block_escalation: [] },
  { rate: "10/s", block_escalation: "1m" },
  { rate: "10/s", block_escalation: ["1m", "later"] },
  { rate: "10/s", block_escalation: Array.from({ length: 17 }, () => "1m") },
  { rate: "10/s", block_escalation: ["1m"], block_memory: "-1s" },
  { rate: "10/s", block: "1m", block_escalation: { factor: 0.5, max: "1d" } },
  { rate: "10/s", block: "1m", block_escalation: { factor: 2, max: "1d", extra: 1 } },
];

describe("parseLimiterFields", () => {
  it.each(TABLES.map((table) => [JSON.stringify(table), table]))(
    "gives what zod gives, or leaves the table to zod: %s",
    (_name, table) => {
      const zod = limiterSchema.safeParse(table);
      const fast = parseLimiterFields(table as Record<string, unknown>);
      if (!zod.success) {
        expect(fast).toBeUndefined();
        return;
      }
      expect(fast).toBeDefined();
      expect(fast?.data).toStrictEqual(zod.data);
      // zod's output order (the schema's), whatever order the table was written in.
      expect(Object.keys(fast?.data ?? {})).toEqual(Object.keys(zod.data));
    },
  );

  it("takes null-prototype tables, as smol-toml makes them", () => {
    const table: Record<string, unknown> = Object.assign(Object.create(null), { rate: "10/s" });
    expect(parseLimiterFields(table)?.data).toStrictEqual(limiterSchema.parse({ rate: "10/s" }));
  });

  it("leaves a key set to undefined to zod (which keeps it in its output)", () => {
    expect(parseLimiterFields({ rate: "10/s", shadow: undefined })).toBeUndefined();
  });

  it("leaves a table with an own __proto__ key to zod", () => {
    const table = JSON.parse('{"rate": "10/s", "__proto__": {"burst": 3}}') as Record<string, unknown>;
    expect(parseLimiterFields(table)).toBeUndefined();
  });
});

describe("limiter definitions", () => {
  it("list the table's keys in the schema's order, however the table was written", () => {
    const snapshot = parseConfigText(
      [
        "[limiters.ordered]",
        'rate = "100/min"',
        "burst = 5",
        "shadow = true",
        "[limiters.unordered]",
        "shadow = true",
        "burst = 5",
        'rate = "100/min"',
      ].join("\n"),
    );
    const ordered = snapshot.definitions.get("ordered")!;
    const unordered = snapshot.definitions.get("unordered")!;
    const schemaOrder = LIMITER_KEYS.filter((key) => key in ordered);
    expect(Object.keys(ordered)).toEqual(schemaOrder);
    expect(Object.keys(unordered)).toEqual(schemaOrder);
    expect(unordered).toStrictEqual(ordered);
    expect(Object.isFrozen(unordered)).toBe(true);
    expect(snapshot.limiters.get("unordered")?.rate).toStrictEqual(snapshot.limiters.get("ordered")?.rate);
  });
});
