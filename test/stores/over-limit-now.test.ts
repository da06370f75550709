/**
 * The synchronous answer of the remote stores (`decideNow`): only denials their local over-limit cache already
 * knows, and nothing else — a call the store must see always gets `undefined`, so it takes the round trip.
 */

import { afterAll, describe, expect, it } from "vitest";
import type { LimitParams } from "../../src/algorithms/types.ts";
import { RateSync } from "../../src/core/rate-sync.ts";
import { SyncUnavailableError } from "../../src/errors.ts";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.ts";
import type { Store, StoreOp } from "../../src/stores/store.ts";
import { requirePostgres, requireRedis } from "../helpers/stores.ts";
import { dropStoreObjects, testConfig } from "./postgres/setup.ts";
import { redisFixture } from "./redis/setup.ts";

const redis = await requireRedis();
const postgres = await requirePostgres();
const params: LimitParams = { kind: "fixed_window", limit: 1, windowMs: 86_400_000 };

interface Target {
  readonly store: Store & { stats(): { calls: number; cacheHits: number } };
  close(): Promise<void>;
}

function scenarios(label: string, available: boolean, open: () => Target): void {
  describe.skipIf(!available)(`decideNow on ${label}`, () => {
    const target = available ? open() : undefined;
    afterAll(async () => {
      await target?.close();
    });

    it("answers only a denial the store already made, and forgets it on reset", async () => {
      const store = target!.store;
      const op: StoreOp = { limiterId: "now", key: "k", params, cost: 1 };
      expect(store.decideNow!([op], 0)).toBeUndefined();
      expect((await store.decide([op], 0)).allowed).toBe(true);
      // Allowed calls are never cached: the store must see them.
      expect(store.decideNow!([op], 0)).toBeUndefined();
      expect((await store.decide([op], 0)).allowed).toBe(false);

      const before = store.stats();
      const now = store.decideNow!([op], 0);
      expect(now?.allowed).toBe(false);
      expect(now?.results[0]?.fromCache).toBe(true);
      expect(now?.results[0]?.retryAfterMs).toBeGreaterThan(0);
      const after = store.stats();
      expect(after.calls - before.calls).toBe(1);
      expect(after.cacheHits - before.cacheHits).toBe(1);

      // A caller that would wait out the denial, a bad cost and a composite all go to the store.
      expect(store.decideNow!([op], 86_400_000)).toBeUndefined();
      expect(store.decideNow!([{ ...op, cost: Number.NaN }], 0)).toBeUndefined();
      expect(store.decideNow!([op, { ...op, key: "other" }], 0)).toBeUndefined();

      await store.reset("now", "k");
      expect(store.decideNow!([op], 0)).toBeUndefined();
      expect((await store.decide([op], 0)).allowed).toBe(true);
    });

    it("lets tryAcquire answer a flood of denials from the cache and count them", async () => {
      const store = target!.store;
      const rs = RateSync.fromConfig(
        {
          stores: { s: { engine: "memory" } },
          limiters: { flood: { algorithm: "fixed_window", limit: 1, window: "1d", store: "s" } },
        },
        { stores: { s: store } },
      );
      expect((await rs.tryAcquire("flood")).allowed).toBe(true);
      expect((await rs.tryAcquire("flood")).allowed).toBe(false);
      const before = store.stats().cacheHits;
      for (let i = 0; i < 100; i++) {
        const decision = await rs.tryAcquire("flood");
        expect(decision.allowed).toBe(false);
        expect(decision.retryAfterMs).toBeGreaterThan(0);
      }
      expect(store.stats().cacheHits - before).toBe(100);
      expect(rs.metrics().limiters.flood?.localCacheHits).toBe(100);
    });

    it("lets tryAcquireSync answer a known denial, and refuse what the store must see, consuming nothing", async () => {
      const store = target!.store;
      const rs = RateSync.fromConfig(
        {
          stores: { s: { engine: "memory" }, m: { engine: "memory" } },
          limiters: {
            far: { algorithm: "fixed_window", limit: 1, window: "1d", store: "s" },
            near: { algorithm: "fixed_window", limit: 2, window: "1d", store: "m" },
          },
        },
        { stores: { s: store }, quiet: true },
      );
      const engine = store.engine;
      const message = `Store "s" (${engine}) cannot decide synchronously; use tryAcquire`;
      const calls = store.stats().calls;
      expect(() => rs.tryAcquireSync("far")).toThrow(message);
      expect(() => rs.tryAcquireSync(["near", "far"])).toThrow(SyncUnavailableError);
      // Nothing reached the store, and nothing was consumed: its one unit is still there, near keeps both.
      expect(store.stats().calls).toBe(calls);
      expect((await rs.peek("near")).remaining).toBe(2);
      expect((await rs.tryAcquire("far")).allowed).toBe(true);
      // An allowed call is never cached: the store has not said "denied" yet.
      expect(() => rs.tryAcquireSync("far")).toThrow(message);
      const denied = await rs.tryAcquire("far");
      expect(denied.allowed).toBe(false);

      const now = rs.tryAcquireSync("far");
      expect(now).not.toBeInstanceOf(Promise);
      expect(now).toMatchObject({ allowed: false, key: "far", limiter: "far", limit: 1, remaining: 0 });
      expect(now.retryAfterMs).toBeGreaterThan(0);
      expect(now.retryAfterMs).toBeLessThanOrEqual(denied.retryAfterMs);
      // A composite whose remote member is a known denial is answered too, and its memory member gives back.
      const composite = rs.tryAcquireSync(["near", "far"]);
      expect(composite).toMatchObject({ allowed: false, limiter: "far" });
      expect((await rs.peek("near")).remaining).toBe(2);
      expect(rs.metrics().limiters.far).toMatchObject({ allowed: 1, denied: 3, localCacheHits: 2 });
      expect(rs.metrics().limiters.near).toMatchObject({ allowed: 0, denied: 0 });
      await rs.reset("far");
      expect(() => rs.tryAcquireSync("far")).toThrow(SyncUnavailableError);
      await rs.close();
    });
  });
}

scenarios("Redis", redis.available, () => {
  const fixture = redisFixture(redis.url);
  return { store: fixture.store, close: () => fixture.close() };
});

scenarios("PostgreSQL", postgres.available, () => {
  const config = testConfig("pg_now", { url: postgres.url });
  const store = new PostgresStore(config, { cleanupIntervalMs: 0 });
  return {
    store,
    async close() {
      await store.close();
      await dropStoreObjects(config);
    },
  };
});
