/**
 * Blocking after a denial (`block`, `block_escalation`, `block_memory`) through RateSync, on every store: a
 * denial by the rate limit starts a block that denies every call (consuming nothing) until it ends, the block
 * escalates on repeat within `block_memory` and starts over after it, `reset` clears it, `peek` and the HTTP
 * headers show it, the `blocked` event fires once per block, composites and several limits are blocked as a
 * whole, a remote store's over-limit cache answers a blocked key locally, and no call passes a running block
 * under contention (4 processes × 64 in flight).
 *
 * Times are real (remote stores decide on their own clock): every wait is a lower bound with a wide margin on
 * the side that cannot flake (a block is checked well inside its length, and once it has surely ended).
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { describeLimiter } from "../../src/config/describe.ts";
import { parseConfigObject } from "../../src/config/load.ts";
import { rateLimitHeaders, retryAfterSeconds } from "../../src/http/headers.ts";
import { type BlockedEvent, RateSync } from "../../src/index.ts";
import { admittedThroughFacade } from "../helpers/facade-workers.ts";
import { requirePostgres, requireRedis, uniqueName } from "../helpers/stores.ts";
import { dropStoreObjects } from "../stores/postgres/setup.ts";
import { deleteByPrefix } from "../stores/redis/setup.ts";

const redis = await requireRedis();
const postgres = await requirePostgres();

interface StoreCase {
  readonly name: string;
  readonly available: boolean;
  readonly store: Record<string, unknown>;
  readonly cleanup: () => Promise<void>;
  /** True when several processes share the state (a contention test makes sense). */
  readonly shared: boolean;
  /** True when the store has an over-limit cache (remote stores). */
  readonly remote: boolean;
}

const redisPrefix = uniqueName("block");
const pgTable = uniqueName("block");
const sqliteDir = mkdtempSync(join(tmpdir(), "rate-sync-block-"));
const cases: StoreCase[] = [
  {
    name: "memory",
    available: true,
    store: { engine: "memory" },
    cleanup: async () => {},
    shared: false,
    remote: false,
  },
  {
    name: "sqlite",
    available: true,
    store: { engine: "sqlite", path: join(sqliteDir, "state.db") },
    cleanup: async () => rmSync(sqliteDir, { recursive: true, force: true }),
    shared: false,
    remote: false,
  },
  {
    name: "redis",
    available: redis.available,
    store: { engine: "redis", url: redis.url, key_prefix: redisPrefix },
    cleanup: async () => {
      const raw = new Redis(redis.url);
      await deleteByPrefix(raw, redisPrefix);
      raw.disconnect();
    },
    shared: true,
    remote: true,
  },
  {
    name: "postgres",
    available: postgres.available,
    store: { engine: "postgres", url: postgres.url, table_name: pgTable },
    cleanup: () => dropStoreObjects({ schemaName: "public", tableName: pgTable }, postgres.url),
    shared: true,
    remote: true,
  },
];

/** A bucket that refills one unit every 10 ms: without a block, a denied key is admitted again at once. */
const fast = (burst: number) => ({ rate: "100/s", burst });

for (const store of cases) {
  describe.skipIf(!store.available)(`block after a denial, ${store.name} store`, () => {
    const instances: RateSync[] = [];
    const make = (limiters: Record<string, unknown>): RateSync => {
      const rs = RateSync.fromConfig({ stores: { s: store.store }, limiters });
      instances.push(rs);
      return rs;
    };
    afterAll(async () => {
      await Promise.all(instances.map((rs) => rs.close()));
      await store.cleanup();
    });
    const id = (name: string) => `${name}-${uniqueName(store.name)}`;

    it("a denial starts a block that denies every call, consuming nothing, until it ends", async () => {
      const limiter = id("fixed");
      const rs = make({ [limiter]: { ...fast(2), block: "2s" } });
      const events: BlockedEvent[] = [];
      rs.on("blocked", (event) => events.push(event));
      expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      const denied = await rs.tryAcquire(limiter);
      expect(denied).toMatchObject({ allowed: false, blocked: true, remaining: 0, retryAfterMs: 2000 });
      expect(events).toEqual([{ limiter, key: limiter, durationMs: 2000, count: 1 }]);

      // The bucket refills meanwhile; the block still denies, with the time left in it, and starts nothing new.
      await sleep(300);
      const during = await rs.tryAcquire(limiter);
      expect(during).toMatchObject({ allowed: false, blocked: true, remaining: 0 });
      expect(during.retryAfterMs).toBeGreaterThan(0);
      expect(during.retryAfterMs).toBeLessThan(2000);
      expect(during.resetAfterMs).toBeGreaterThanOrEqual(during.retryAfterMs);
      expect(events).toHaveLength(1);
      // Retry-After and RateLimit follow from the decision: the time left in the block, nothing remaining.
      expect(retryAfterSeconds(during.retryAfterMs)).toBe(Math.max(1, Math.ceil(during.retryAfterMs / 1000)));
      const headers = Object.fromEntries(rateLimitHeaders(during, "both"));
      expect(headers["X-RateLimit-Remaining"]).toBe("0");
      expect(headers.RateLimit).toMatch(/;r=0;t=2$/);

      const state = await rs.peek(limiter);
      expect(state.remaining).toBe(0);
      expect(state.blockedForMs).toBeGreaterThan(0);
      expect(state.blockedForMs).toBeLessThanOrEqual(during.retryAfterMs);

      // Once it has ended, the key is admitted again with its whole burst: the blocked calls consumed nothing.
      await sleep(during.retryAfterMs + 100);
      expect((await rs.peek(limiter)).blockedForMs).toBeUndefined();
      const after = await rs.tryAcquire(limiter);
      expect(after.allowed).toBe(true);
      expect(after.blocked).toBeUndefined();
      expect(after.remaining).toBe(1);
    }, 15_000);

    it("escalates on repeat within block_memory; the last step repeats", async () => {
      const limiter = id("escalating");
      const rs = make({
        [limiter]: { ...fast(1), block_escalation: ["300ms", "700ms"], block_memory: "1h" },
      });
      const counts: number[] = [];
      rs.on("blocked", (event) => counts.push(event.count));
      const expected = [300, 700, 700];
      for (const length of expected) {
        expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
        const denied = await rs.tryAcquire(limiter);
        expect(denied).toMatchObject({ allowed: false, blocked: true, retryAfterMs: length });
        await sleep(length + 100);
      }
      expect(counts).toEqual([1, 2, 3]);
    }, 15_000);

    it("starts over once block_memory has passed since the previous block ended", async () => {
      const limiter = id("forgetting");
      const rs = make({
        [limiter]: { ...fast(1), block_escalation: ["300ms", "5s"], block_memory: "200ms" },
      });
      expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      expect(await rs.tryAcquire(limiter)).toMatchObject({ blocked: true, retryAfterMs: 300 });
      await sleep(300 + 200 + 200);
      expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      expect(await rs.tryAcquire(limiter)).toMatchObject({ blocked: true, retryAfterMs: 300 });
    }, 15_000);

    it("reset clears the block and the row of blocks", async () => {
      const limiter = id("reset");
      const rs = make({ [limiter]: { ...fast(1), block_escalation: ["1h", "2h"] } });
      expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      expect(await rs.tryAcquire(limiter)).toMatchObject({ blocked: true, retryAfterMs: 3_600_000 });
      await rs.reset(limiter);
      expect((await rs.peek(limiter)).blockedForMs).toBeUndefined();
      expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      // Forgotten: the next block is the first of a row again.
      expect(await rs.tryAcquire(limiter)).toMatchObject({ blocked: true, retryAfterMs: 3_600_000 });
    });

    it("a blocked member denies a composite, which consumes nothing in the others", async () => {
      const blocking = id("composite-blocking");
      const other = id("composite-other");
      const rs = make({ [blocking]: { ...fast(1), block: "1h" }, [other]: { rate: "1/h", burst: 5 } });
      expect((await rs.tryAcquire(blocking)).allowed).toBe(true);
      expect((await rs.tryAcquire(blocking)).blocked).toBe(true);
      const composite = await rs.tryAcquire([other, blocking]);
      expect(composite).toMatchObject({ allowed: false, blocked: true, key: blocking });
      expect(composite.retryAfterMs).toBeGreaterThan(3_500_000);
      expect((await rs.peek(other)).remaining).toBe(5);
      // A composite denied by the other member does not block the blocking limiter's key... of a fresh key.
      const fresh = id("composite-fresh");
      const rs2 = make({
        [fresh]: { ...fast(5), block: "1h" },
        [`${fresh}-tight`]: { rate: "1/h", burst: 1 },
      });
      expect((await rs2.tryAcquire([fresh, `${fresh}-tight`])).allowed).toBe(true);
      const byOther = await rs2.tryAcquire([fresh, `${fresh}-tight`]);
      expect(byOther.allowed).toBe(false);
      expect(byOther.blocked).toBeUndefined();
      expect((await rs2.tryAcquire(fresh)).allowed).toBe(true);
    });

    it("with several limits, a denial by any of them blocks the key", async () => {
      const limiter = id("limits");
      const rs = make({
        [limiter]: {
          limits: [fast(10), { algorithm: "fixed_window", limit: 2, window: "3650d" }],
          block: "1h",
        },
      });
      expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      const denied = await rs.tryAcquire(limiter);
      expect(denied).toMatchObject({ allowed: false, blocked: true, retryAfterMs: 3_600_000 });
      const state = await rs.peek(limiter);
      expect(state.blockedForMs).toBeGreaterThan(3_500_000);
      expect(state.remaining).toBe(0);
    });

    it("acquire() with a timeout shorter than the block gives up at once", async () => {
      const limiter = id("acquire");
      const rs = make({ [limiter]: { ...fast(1), block: "1h" } });
      expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      expect((await rs.tryAcquire(limiter)).blocked).toBe(true);
      await expect(rs.acquire(limiter, { timeout: "200ms" })).rejects.toMatchObject({
        decision: { blocked: true },
      });
    });

    it.runIf(store.remote)(
      "the over-limit cache answers a blocked key locally until the block ends",
      async () => {
        const limiter = id("cache");
        const rs = make({ [limiter]: { ...fast(1), block: "1h" } });
        expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
        expect((await rs.tryAcquire(limiter)).blocked).toBe(true);
        const hits = rs.metrics().limiters[limiter]?.localCacheHits ?? 0;
        for (let i = 0; i < 20; i++) {
          const decision = await rs.tryAcquire(limiter);
          expect(decision.allowed).toBe(false);
          expect(decision.retryAfterMs).toBeGreaterThan(3_500_000);
        }
        expect(rs.metrics().limiters[limiter]?.localCacheHits).toBe(hits + 20);
      },
    );

    it.runIf(store.shared)(
      "no call passes a running block: 4 processes × 64 in flight",
      async () => {
        const limiter = id("contention");
        const limiters = { [limiter]: { ...fast(5), block: "1h" } };
        const rs = make(limiters);
        for (let i = 0; i < 5; i++) expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
        expect((await rs.tryAcquire(limiter)).blocked).toBe(true);
        // The bucket refills 100 units a second while the workers run: only the block keeps them out.
        const config = { stores: { s: store.store }, limiters };
        const admitted = await admittedThroughFacade(4, { config, key: limiter, total: 200, inFlight: 64 });
        expect(admitted).toBe(0);
        expect((await rs.peek(limiter)).blockedForMs).toBeGreaterThan(3_000_000);
      },
      60_000,
    );

    it.runIf(store.shared)(
      "a block started under contention holds: 4 processes × 64 in flight",
      async () => {
        const limiter = id("contention-start");
        // No refill during the test: exactly the burst passes, and the denials block the key for every process.
        const limiters = { [limiter]: { rate: "1/h", burst: 20, block: "1h" } };
        const config = { stores: { s: store.store }, limiters };
        const admitted = await admittedThroughFacade(4, { config, key: limiter, total: 100, inFlight: 64 });
        expect(admitted).toBe(20);
        // The denials started one block, which every process sees.
        const rs = make(limiters);
        expect((await rs.peek(limiter)).blockedForMs).toBeGreaterThan(3_000_000);
      },
      60_000,
    );
  });
}

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
