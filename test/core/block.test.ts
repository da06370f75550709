/**
 * Blocking after a denial through RateSync on the in-process stores (memory, SQLite), and the block keys in the
 * config: validation with file, line and key, defaults, `explain`. Redis and PostgreSQL: `block-shared.test.ts`.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeLimiter } from "../../src/config/describe.ts";
import { parseConfigObject } from "../../src/config/load.ts";
import { RateSync } from "../../src/index.ts";
import { blockSuite } from "./block-suite.ts";

const sqliteDir = mkdtempSync(join(tmpdir(), "rate-sync-block-"));
blockSuite({
  name: "memory",
  available: true,
  store: { engine: "memory" },
  cleanup: async () => {},
  shared: false,
  remote: false,
});
blockSuite({
  name: "sqlite",
  available: true,
  store: { engine: "sqlite", path: join(sqliteDir, "state.db") },
  cleanup: async () => rmSync(sqliteDir, { recursive: true, force: true }),
  shared: false,
  remote: false,
});

describe("block on a shadow limiter", () => {
  it("starts and reports blocks, but lets the calls through", async () => {
    const rs = RateSync.fromConfig({
      limiters: { dry: { rate: "1/h", burst: 1, block: "1h", shadow: true } },
    });
    let started = 0;
    rs.on("blocked", () => started++);
    expect((await rs.tryAcquire("dry")).allowed).toBe(true);
    const denied = await rs.tryAcquire("dry");
    expect(denied).toMatchObject({ allowed: true, blocked: true, degraded: "shadow" });
    expect(await rs.tryAcquire("dry")).toMatchObject({ allowed: true, blocked: true, degraded: "shadow" });
    expect(started).toBe(1);
    expect((await rs.peek("dry")).blockedForMs).toBeGreaterThan(3_500_000);
    await rs.close();
  });
});

describe("block in the config", () => {
  const load = (limiter: Record<string, unknown>) =>
    RateSync.fromToml(
      `[limiters.api]\n${Object.entries(limiter)
        .map(([k, v]) => `${k} = ${JSON.stringify(v)}`)
        .join("\n")}\n`,
    );

  it("refuses block with block_escalation, block_memory alone, and a block without a rate limit", () => {
    expect(() => load({ rate: "1/s", block: "1m", block_escalation: ["1m"] })).toThrow(
      /limiters\.api\.block_escalation.*conflicts with "block"/s,
    );
    expect(() => load({ rate: "1/s", block: "1m", block_memory: "1d" })).toThrow(
      /limiters\.api\.block_memory.*only together with "block_escalation"/s,
    );
    expect(() => load({ max_concurrent: 2, block: "1m" })).toThrow(
      /limiters\.api\.block.*needs a rate limit/s,
    );
  });

  it("refuses bad durations, naming the key, the step and the line", () => {
    expect(() => load({ rate: "1/s", block: "0s" })).toThrow(/:3:1 limiters\.api\.block.*must be positive/s);
    expect(() => load({ rate: "1/s", block: "30d" })).toThrow(/limiters\.api\.block.*at most 2147483647ms/s);
    expect(() => load({ rate: "1/s", block_escalation: ["1m", "soon"] })).toThrow(
      /limiters\.api\.block_escalation.*item 2/s,
    );
    expect(() => load({ rate: "1/s", block_escalation: [] })).toThrow(/at least one duration/);
  });

  it("takes a factor with a cap: from block, each step factor times the previous, up to max", () => {
    const snapshot = parseConfigObject({
      limiters: {
        api: { rate: "10/s", block: "1m", block_escalation: { factor: 10, max: "1d" }, block_memory: "2d" },
      },
    });
    expect(snapshot.limiters.get("api")?.block).toEqual({
      durationsMs: [60_000, 600_000, 6_000_000, 60_000_000, 86_400_000],
      memoryMs: 172_800_000,
      span: 1,
    });
    const toml = (escalation: string, block = 'block = "1m"\n') =>
      RateSync.fromToml(`[limiters.api]\nrate = "1/s"\n${block}block_escalation = ${escalation}\n`);
    expect(() => toml('{ factor = 2, max = "1h" }', "")).toThrow(/limiters\.api\.block: .*needs "block"/);
    expect(() => toml('{ factor = 2, max = "30s" }')).toThrow(
      /:4:1 limiters\.api\.block_escalation: max .*longer than block/,
    );
    expect(() => toml('{ factor = 1.01, max = "1d" }')).toThrow(/more than 16 steps/);
    expect(() => toml('{ factor = 1, max = "1d" }')).toThrow(/factor: must be above 1/);
    expect(() => toml('{ factor = 2, max = "1d", min = "1s" }')).toThrow(/unknown key "min"/);
    expect(() => toml("{ factor = 2 }")).toThrow(/needs both factor and max/);
    expect(() => toml('{ factor = 2, max = "30d" }')).toThrow(/max: must be at most 2147483647ms/);
  });

  it("defaults block_memory to a day, and explain shows the block", () => {
    const snapshot = parseConfigObject({
      limiters: {
        fixed: { rate: "10/s", block: "15m" },
        rising: { rate: "10/s", block_escalation: ["1m", "10m", "1h"] },
        several: {
          limits: [{ rate: "10/s" }, { algorithm: "fixed_window", limit: 9, window: "1h" }],
          block: "1m",
        },
      },
    });
    const explain = (id: string) =>
      describeLimiter(snapshot.limiters.get(id)!, snapshot.definitions.get(id)!, snapshot.defaults);
    expect(snapshot.limiters.get("fixed")?.block).toEqual({ durationsMs: [900_000], memoryMs: 0, span: 1 });
    expect(snapshot.limiters.get("rising")?.block).toEqual({
      durationsMs: [60_000, 600_000, 3_600_000],
      memoryMs: 86_400_000,
      span: 1,
    });
    expect(snapshot.limiters.get("several")?.block?.span).toBe(2);
    expect(explain("fixed")).toContain("block=15m (a denied key stays denied 15m)");
    expect(explain("rising")).toContain("block_escalation=[1m, 10m, 1h] block_memory=1d");
  });
});
