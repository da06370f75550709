/**
 * The synchronous answer of the remote stores (`decideNow`): only denials their local over-limit cache already
 * knows, and nothing else — a call the store must see always gets `undefined`, so it takes the round trip.
 */

import { afterAll, describe, expect, it } from "vitest";
import type { LimitParams } from "../../src/algorithms/types.ts";
import { RateSync } from "../../src/core/rate-sync.ts";
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
