/**
 * The batch bounds README promises, through the real drivers: the calls of one turn leave in runs of at most 32
 * on Redis and at most 128 on PostgreSQL (one script run or one function call each), and every call is answered.
 */

import { afterAll, describe, expect, it } from "vitest";
import type { RateParams } from "../../../src/algorithms/types.ts";
import { sumBatcherStats, type TurnBatcherStats } from "../../../src/stores/batching/turn-batcher.ts";
import { PostgresStore, postgresBatchStats } from "../../../src/stores/postgres/postgres-store.ts";
import type { Store, StoreOp } from "../../../src/stores/store.ts";
import { requirePostgres, requireRedis } from "../../helpers/stores.ts";
import { dropStoreObjects, testConfig } from "../postgres/setup.ts";
import { redisFixture } from "../redis/setup.ts";

const redis = await requireRedis();
const postgres = await requirePostgres();
const params: RateParams = { kind: "fixed_window", limit: 1000, windowMs: 3_600_000 };

/** Sizes of the batches sent between two stats readings. */
function sizesBetween(before: TurnBatcherStats, after: TurnBatcherStats): { batches: number; items: number } {
  return { batches: after.batches - before.batches, items: after.items - before.items };
}

/** `count` decisions on distinct keys issued in one turn. */
function oneTurn(store: Store, count: number) {
  return Promise.all(
    Array.from({ length: count }, (_, i) => {
      const op: StoreOp = { limiterId: "bounds", key: `k${i}`, params, cost: 1 };
      return store.decide([op], 0);
    }),
  );
}

describe("sumBatcherStats", () => {
  it("adds batches, items and each size bucket", () => {
    expect(
      sumBatcherStats([
        { batches: 2, items: 5, sizes: [0, 1, 1] },
        { batches: 1, items: 1, sizes: [1] },
      ]),
    ).toEqual({ batches: 3, items: 6, sizes: [1, 1, 1] });
    expect(sumBatcherStats([])).toEqual({ batches: 0, items: 0, sizes: [] });
  });
});

describe.skipIf(!redis.available)("Redis batch bound", () => {
  const fixture = redisFixture(redis.url);
  afterAll(() => fixture.close());

  it("sends 100 calls of one turn as runs of at most 32", async () => {
    await oneTurn(fixture.store, 1); // connected, scripts loaded
    const before = fixture.store.batchStats();
    const results = await oneTurn(fixture.store, 100);
    expect(results.every((r) => r.allowed)).toBe(true);
    const after = fixture.store.batchStats();
    expect(sizesBetween(before, after)).toEqual({ batches: 4, items: 100 }); // 32 + 32 + 32 + 4
    // No run above 32: bucket 5 holds sizes 17–32, and nothing lies beyond it.
    expect(after.sizes.length).toBeLessThanOrEqual(6);
  });
});

describe.skipIf(!postgres.available)("PostgreSQL batch bound", () => {
  const config = testConfig("batch_bounds", { url: postgres.url, poolMaxSize: 1 });
  const store = new PostgresStore(config, { cleanupIntervalMs: 0 });
  afterAll(async () => {
    await store.close();
    await dropStoreObjects(config, postgres.url);
  });

  it("sends 300 calls of one turn as calls of at most 128", async () => {
    await oneTurn(store, 1);
    const before = postgresBatchStats(store);
    const results = await oneTurn(store, 300);
    expect(results.every((r) => r.allowed)).toBe(true);
    const after = postgresBatchStats(store);
    expect(sizesBetween(before, after)).toEqual({ batches: 3, items: 300 }); // 128 + 128 + 44
    // No call above 128: bucket 7 holds sizes 65–128.
    expect(after.sizes.length).toBeLessThanOrEqual(8);
  });
});
