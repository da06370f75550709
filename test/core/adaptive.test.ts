/**
 * The adaptive algorithm through the whole library, on every store (memory, Redis, PostgreSQL, SQLite): its config (defaults, errors with file, line
 * and key), decisions and waiting `acquire()`, composites all or nothing, several limits, the RateLimit policy
 * headers and the Prometheus output. (Its math is tested in test/algorithms/adaptive.test.ts and against Lua and
 * SQL in the reference-model tests.)
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { describeLimiter } from "../../src/config/describe.ts";
import { rateLimitHeaders } from "../../src/http/headers.ts";
import { ConfigError, loadConfig, parseConfigObject, RateSync } from "../../src/index.ts";
import { collectMetrics } from "../../src/prometheus/index.ts";
import { requirePostgres, requireRedis, uniqueName } from "../helpers/stores.ts";
import { parsePrometheusText, sampleValue } from "../observability/prom-text.ts";
import { dropStoreObjects } from "../stores/postgres/setup.ts";
import { deleteByPrefix } from "../stores/redis/setup.ts";

const redis = await requireRedis();
const postgres = await requirePostgres();

describe("adaptive in the config", () => {
  it("fills in smart-ratelimiter's defaults", () => {
    const snapshot = parseConfigObject({
      limiters: { api: { algorithm: "adaptive", limit: 10, window: "1s" } },
    });
    expect(snapshot.limiters.get("api")?.rate).toEqual({
      kind: "adaptive",
      limit: 10,
      windowMs: 1000,
      burstMultiplier: 3,
      adaptiveWindowMs: 300_000,
      highLoad: 0.8,
      lowLoad: 0.4,
      penalty: 0.5,
    });
    // The policy quota is the largest cap: what a quiet client may use in one window.
    expect(snapshot.limiters.get("api")?.policy).toEqual({ name: "api", quota: 30, windowSeconds: 1 });
  });

  it("names the file, line and key of a bad value", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rate-sync-adaptive-"));
    try {
      const file = join(dir, "rate-sync.toml");
      writeFileSync(
        file,
        '[limiters.api]\nalgorithm = "adaptive"\nlimit = 10\nwindow = "1s"\npenalty = 2\nlow_load_threshold = 0.9\n\n[limiters.other]\nrate = "1/s"\nburst_multiplier = 2\n',
      );
      const error = (await loadConfig(file).catch((e: unknown) => e)) as ConfigError;
      expect(error).toBeInstanceOf(ConfigError);
      const issues = error.issues.map((i) => `${i.line}:${i.path}`);
      expect(issues).toContain("5:limiters.api.penalty");
      expect(issues).toContain("10:limiters.other.burst_multiplier");
      expect(error.message).toContain(
        '"burst_multiplier" does not apply to algorithm "token_bucket" (the default)',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("explains its tuning as written and in effect", () => {
    const snapshot = parseConfigObject({
      limiters: { api: { algorithm: "adaptive", limit: 10, window: "1s", penalty: 0.25 } },
    });
    const text = describeLimiter(
      snapshot.limiters.get("api")!,
      snapshot.definitions.get("api")!,
      snapshot.defaults,
    );
    expect(text).toContain("adaptive limit=10");
    expect(text).toContain("burst_multiplier=3 (default)");
    expect(text).toContain("adaptive_window=5m (default)");
    expect(text).toContain("penalty=0.25");
  });

  it("refuses a low threshold that is not below the high one", () => {
    expect(() =>
      parseConfigObject({
        limiters: {
          api: {
            algorithm: "adaptive",
            limit: 10,
            window: "1s",
            low_load_threshold: 0.5,
            high_load_threshold: 0.5,
          },
        },
      }),
    ).toThrow(
      "limiters.api.low_load_threshold: low_load_threshold (0.5) must be below high_load_threshold (0.5)",
    );
  });
});

interface Backend {
  readonly name: string;
  readonly available: boolean;
  readonly store: Record<string, unknown>;
  cleanup(): Promise<void>;
}

const prefix = uniqueName("adaptive");
const table = uniqueName("adaptive");
const backends: Backend[] = [
  { name: "memory", available: true, store: { engine: "memory" }, cleanup: async () => {} },
  {
    name: "redis",
    available: redis.available,
    store: { engine: "redis", url: redis.url, key_prefix: prefix },
    async cleanup() {
      const raw = new Redis(redis.url);
      await deleteByPrefix(raw, prefix);
      raw.disconnect();
    },
  },
  {
    name: "postgres",
    available: postgres.available,
    store: { engine: "postgres", url: postgres.url, table_name: table },
    cleanup: () => dropStoreObjects({ schemaName: "public", tableName: table }, postgres.url),
  },
];
{
  // SQLite decides with the algorithms' TypeScript inside its transaction: adaptive needs nothing of its own.
  const dir = mkdtempSync(join(tmpdir(), "rate-sync-adaptive-db-"));
  backends.push({
    name: "sqlite",
    available: true,
    store: { engine: "sqlite", path: join(dir, "state.db") },
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  });
}

for (const backend of backends) {
  describe.skipIf(!backend.available)(`adaptive through RateSync, ${backend.name} store`, () => {
    const instances: RateSync[] = [];
    const make = (limiters: Record<string, unknown>) => {
      const rs = RateSync.fromConfig({ stores: { s: backend.store }, limiters });
      instances.push(rs);
      return rs;
    };
    afterAll(async () => {
      await Promise.all(instances.map((rs) => rs.close()));
      await backend.cleanup();
    });
    const id = (name: string) => `${name}-${uniqueName(backend.name)}`;
    /** 4 per hour-long window, a quiet key bursting to 8 (burst_multiplier 2). */
    const hourly = { algorithm: "adaptive", limit: 4, window: "1h", burst_multiplier: 2 };

    it("lets a quiet key burst to the largest cap, then denies, with headers for that policy", async () => {
      const limiter = id("burst");
      const rs = make({ [limiter]: hourly });
      const decisions = [];
      for (let i = 0; i < 9; i++) decisions.push(await rs.tryAcquire(limiter));
      expect(decisions.filter((d) => d.allowed)).toHaveLength(8);
      const denied = decisions[8]!;
      expect(denied).toMatchObject({ allowed: false, limit: 8, remaining: 0 });
      expect(denied.retryAfterMs).toBeGreaterThan(0);
      const headers = Object.fromEntries(rateLimitHeaders(decisions[0]!, "draft-10"));
      expect(headers["RateLimit-Policy"]).toBe(`"${limiter}";q=8;w=3600`);
      expect(headers.RateLimit).toMatch(new RegExp(`^"${limiter}";r=7;t=\\d+$`));
      expect((await rs.peek(limiter)).remaining).toBe(0);
    });

    it("acquire() waits for the bucket to refill", async () => {
      const limiter = id("wait");
      // 20 per second, cap 20 (burst_multiplier 1): after 20 calls the next one waits about 50 ms.
      const rs = make({ [limiter]: { algorithm: "adaptive", limit: 20, window: "1s", burst_multiplier: 1 } });
      for (let i = 0; i < 20; i++) expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      const lease = await rs.acquire(limiter, { timeout: "5s" });
      expect(lease.decision.allowed).toBe(true);
      expect(lease.waitedMs).toBeGreaterThan(0);
    });

    it("takes part in composites and in limits = [...] all or nothing", async () => {
      const limiter = id("comp");
      const other = id("other");
      const multi = id("multi");
      const rs = make({
        [limiter]: hourly,
        [other]: { algorithm: "fixed_window", limit: 2, window: "1h" },
        [multi]: { limits: [hourly, { algorithm: "fixed_window", limit: 3, window: "1h" }] },
      });
      expect((await rs.tryAcquire([limiter, other])).allowed).toBe(true);
      expect((await rs.tryAcquire([limiter, other])).allowed).toBe(true);
      expect((await rs.tryAcquire([limiter, other])).allowed).toBe(false);
      // The refused composite took nothing from the adaptive limiter: 8 − 2 left.
      expect((await rs.peek(limiter)).remaining).toBe(6);
      let admitted = 0;
      for (let i = 0; i < 5; i++) if ((await rs.tryAcquire(multi)).allowed) admitted++;
      expect(admitted).toBe(3);
      expect((await rs.peek(multi)).limits?.map((l) => l.remaining)).toEqual([5, 0]);
    });

    it("is counted in the Prometheus output like any limiter", async () => {
      const limiter = id("prom");
      const rs = make({ [limiter]: hourly });
      for (let i = 0; i < 10; i++) await rs.tryAcquire(limiter);
      const registry = new Registry();
      const stop = collectMetrics(rs, { registry });
      try {
        const families = parsePrometheusText(await registry.metrics());
        const value = (outcome: string) =>
          sampleValue(families, "ratesync_decisions_total", { limiter, outcome });
        expect([value("allowed"), value("denied")]).toEqual([8, 2]);
      } finally {
        stop();
      }
    });
  });
}
