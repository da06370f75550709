/**
 * Refunds, charges and lease releases made in one event-loop turn go as one batch per Redis node or Cluster hash
 * slot (one run of the refund script) and per PostgreSQL store (one `<table>_refund` call), and leave exactly the
 * state the same calls leave one by one; a batch that fails rejects each of its callers. On a real Redis, a real 3-node Redis
 * Cluster and a real PostgreSQL.
 */

import { afterAll, describe, expect, it } from "vitest";
import type { ConcurrencyParams, RateParams } from "../../../src/algorithms/types.ts";
import type { TurnBatcherStats } from "../../../src/stores/batching/turn-batcher.ts";
import type { GuardedStore } from "../../../src/stores/guard/guarded-store.ts";
import type { StoreDriver } from "../../../src/stores/guard/store-driver.ts";
import { postgresNames } from "../../../src/stores/postgres/identifiers.ts";
import { PostgresStore, postgresRefundBatchStats } from "../../../src/stores/postgres/postgres-store.ts";
import { hashSlot, stateKey } from "../../../src/stores/redis/keys.ts";
import type { StoreOp } from "../../../src/stores/store.ts";
import { requirePostgres, requireRedis } from "../../helpers/stores.ts";
import { adminSql, dropStoreObjects, testConfig } from "../postgres/setup.ts";
import { redisFixture } from "../redis/setup.ts";
import { clusterStoreForBlock, expectEachCallerFailed } from "./fixtures.ts";

const redis = await requireRedis();
const postgres = await requirePostgres();

type AnyStore = GuardedStore<StoreDriver>;

/** Limits that never refill or roll over during a test: what a refund or a charge moves stays moved. */
const window: RateParams = { kind: "fixed_window", limit: 100, windowMs: 3_600_000 };
const bucket: RateParams = { kind: "token_bucket", intervalMs: 3_600_000, burst: 100 };
const KEYS = ["k0", "k1", "k2", "k3", "k4", "k5"];

/** One call of the turn: a refund or a charge. */
interface Call {
  readonly charge: boolean;
  readonly ops: readonly StoreOp[];
}

/**
 * 40 calls on `limiterId`: the first 12 on one hot key, the others over six keys; refunds of 1 to 3 units on a
 * fixed window or a token bucket, charges of 2 units, and composite refunds of two keys.
 */
function callsOn(limiterId: string): Call[] {
  return Array.from({ length: 40 }, (_, i): Call => {
    const key = i < 12 ? "hot" : (KEYS[i % KEYS.length] as string);
    const op = (params: RateParams, on: string, cost: number): StoreOp => ({
      limiterId,
      key: on,
      params,
      cost,
    });
    if (i % 5 === 4) return { charge: true, ops: [op(i % 2 === 0 ? window : bucket, key, 2)] };
    if (i % 7 === 6) {
      return {
        charge: false,
        ops: [op(window, key, 1), op(bucket, KEYS[(i + 1) % KEYS.length] as string, 1)],
      };
    }
    return { charge: false, ops: [op(i % 2 === 0 ? bucket : window, key, (i % 3) + 1)] };
  });
}

/** Every state the calls touch, with 50 units consumed, so refunds have something to give back. */
async function consume(store: AnyStore, limiterId: string): Promise<void> {
  for (const key of ["hot", ...KEYS]) {
    for (const params of [window, bucket]) {
      const { allowed } = await store.decide([{ limiterId, key, params, cost: 50 }], 0);
      expect(allowed).toBe(true);
    }
  }
}

function apply(store: AnyStore, call: Call): Promise<void> {
  return call.charge ? store.charge(call.ops) : store.refund(call.ops);
}

/** What a peek says is left of every state of `limiterId`. */
async function remaining(store: AnyStore, limiterId: string): Promise<number[]> {
  const left: number[] = [];
  for (const key of ["hot", ...KEYS]) {
    for (const params of [window, bucket]) {
      left.push((await store.peek({ limiterId, key, params, cost: 1 })).remaining);
    }
  }
  return left;
}

const slots: ConcurrencyParams = { kind: "concurrency", maxConcurrent: 100, leaseMs: 3_600_000 };

/**
 * 40 leases taken on two keys, then released in one turn (with a release of a lease that was never taken):
 * every lease is free again; returns the batches the releases went in.
 */
async function releaseInOneTurn(store: AnyStore, stats: () => TurnBatcherStats, limiterId: string) {
  const leases = Array.from({ length: 40 }, (_, i) => ({
    key: i % 2 === 0 ? "x" : "y",
    leaseId: `lease-${i}`,
  }));
  for (const { key, leaseId } of leases) {
    expect((await store.decide([{ limiterId, key, params: slots, cost: 1, leaseId }], 0)).allowed).toBe(true);
  }
  const peekOf = async (key: string) =>
    (await store.peek({ limiterId, key, params: slots, cost: 1, leaseId: "peek" })).remaining;
  expect([await peekOf("x"), await peekOf("y")]).toEqual([80, 80]);
  const before = stats();
  await Promise.all([
    ...leases.map(({ key, leaseId }) => store.release(limiterId, key, leaseId)),
    store.release(limiterId, "x", "never-taken"),
  ]);
  const after = stats();
  expect([await peekOf("x"), await peekOf("y")]).toEqual([100, 100]);
  return { batches: after.batches - before.batches, items: after.items - before.items };
}

/**
 * The same calls in one turn on `together` and one after the other on `alone`: the state left must be the same,
 * and the batches sent are returned (those of the turn, and those of the calls one by one).
 */
async function turnAgainstOneByOne(
  store: AnyStore,
  stats: () => TurnBatcherStats,
  together: string,
  alone: string,
): Promise<{ turn: { batches: number; items: number }; oneByOne: number }> {
  await consume(store, together);
  await consume(store, alone);
  const start = stats();
  await Promise.all(callsOn(together).map((call) => apply(store, call)));
  const afterTurn = stats();
  for (const call of callsOn(alone)) await apply(store, call);
  const end = stats();
  expect(await remaining(store, together)).toEqual(await remaining(store, alone));
  // Something moved: the refunds gave back, the charges took.
  expect(await remaining(store, together)).not.toEqual(new Array(14).fill(50));
  return {
    turn: { batches: afterTurn.batches - start.batches, items: afterTurn.items - start.items },
    oneByOne: end.batches - afterTurn.batches,
  };
}

describe.skipIf(!redis.available)("refund batches on Redis", () => {
  const { store, config, raw, close } = redisFixture(redis.url, {}, { overLimitCache: false });
  afterAll(close);

  it("40 refunds and charges of one turn go as two script runs and leave what they leave one by one", async () => {
    const sent = await turnAgainstOneByOne(store, () => store.refundBatchStats(), "turn", "alone");
    expect(sent.turn).toEqual({ batches: 2, items: 40 }); // 32 + 8
    expect(sent.oneByOne).toBe(40);
  });

  it("41 releases of one turn go as two script runs and free every lease", async () => {
    expect(await releaseInOneTurn(store, () => store.refundBatchStats(), "leases")).toEqual({
      batches: 2,
      items: 41,
    });
  });

  it("a failed run rejects each of its callers", async () => {
    // A state key that holds a string: the refund script fails on it, and with it the whole run.
    await raw.set(stateKey(config.keyPrefix, "poison", "bad"), "not a hash");
    const before = store.refundBatchStats().batches;
    const errorsBefore = store.stats().errors;
    const settled = await Promise.allSettled([
      store.refund([{ limiterId: "poison", key: "good", params: window, cost: 1 }]),
      store.charge([{ limiterId: "poison", key: "good", params: bucket, cost: 1 }]),
      store.refund([{ limiterId: "poison", key: "bad", params: window, cost: 1 }]),
    ]);
    expectEachCallerFailed(
      settled,
      store.refundBatchStats().batches - before,
      store.stats().errors - errorsBefore,
    );
    // The next turn's refunds go on.
    await store.refund([{ limiterId: "poison", key: "good", params: window, cost: 1 }]);
  });
});

describe.skipIf(!redis.available)("refund batches on a Redis Cluster", () => {
  const cluster = clusterStoreForBlock();

  it("refunds of one turn go as one run per hash slot (a composite across slots in each of its slots)", async () => {
    const { store, prefix } = cluster;
    const sent = await turnAgainstOneByOne(store, () => store.refundBatchStats(), "turn", "alone");
    // Each call is one refund per slot its ops are in; each slot's refunds go as runs of at most 32.
    const perSlot = new Map<number, number>();
    for (const call of callsOn("turn")) {
      const slots = new Set(call.ops.map((op) => hashSlot(stateKey(prefix, op.limiterId, op.key))));
      for (const slot of slots) perSlot.set(slot, (perSlot.get(slot) ?? 0) + 1);
    }
    const items = [...perSlot.values()].reduce((a, b) => a + b, 0);
    const runs = [...perSlot.values()].reduce((a, b) => a + Math.ceil(b / 32), 0);
    expect(perSlot.size).toBeGreaterThan(1);
    expect(sent.turn).toEqual({ batches: runs, items });
    expect(runs).toBeLessThan(40);
  });

  it("releases of one turn go as one run per hash slot", async () => {
    const { store } = cluster;
    const sent = await releaseInOneTurn(store, () => store.refundBatchStats(), "leases");
    // 21 releases on x and 20 on y: one run on each slot, or 32 + 9 when both keys share one.
    expect(sent).toEqual({ batches: 2, items: 41 });
  });
});

describe.skipIf(!postgres.available)("refund batches on PostgreSQL", () => {
  const config = testConfig("refund_batches", { url: postgres.url, poolMaxSize: 2 });
  const store = new PostgresStore(config, { cleanupIntervalMs: 0, overLimitCache: false });
  afterAll(async () => {
    await store.close();
    await dropStoreObjects(config, postgres.url);
  });

  it("40 refunds and charges of one turn go as one call and leave what they leave one by one", async () => {
    const sent = await turnAgainstOneByOne(store, () => postgresRefundBatchStats(store), "turn", "alone");
    expect(sent.turn).toEqual({ batches: 1, items: 40 });
    expect(sent.oneByOne).toBe(40);
  });

  it("41 releases of one turn go as one call and free every lease", async () => {
    expect(await releaseInOneTurn(store, () => postgresRefundBatchStats(store), "leases")).toEqual({
      batches: 1,
      items: 41,
    });
  });

  it("a failed call rejects each of its callers", async () => {
    const own = testConfig("refund_batches_fail", { url: postgres.url, poolMaxSize: 2 });
    const failing = new PostgresStore(own, { cleanupIntervalMs: 0, overLimitCache: false });
    const admin = await adminSql(postgres.url);
    try {
      await failing.ensureReady();
      // This store's own refund function gone: its next refund statement fails, and every refund in it.
      await admin.unsafe(`DROP FUNCTION ${postgresNames(own.schemaName, own.tableName).refundFunction}`);
      const before = postgresRefundBatchStats(failing).batches;
      const errorsBefore = failing.stats().errors;
      const settled = await Promise.allSettled([
        failing.refund([{ limiterId: "f", key: "a", params: window, cost: 1 }]),
        failing.charge([{ limiterId: "f", key: "b", params: bucket, cost: 1 }]),
        failing.refund([{ limiterId: "f", key: "a", params: bucket, cost: 2 }]),
      ]);
      expectEachCallerFailed(
        settled,
        postgresRefundBatchStats(failing).batches - before,
        failing.stats().errors - errorsBefore,
      );
    } finally {
      await admin.end({ timeout: 1 });
      await failing.close();
      await dropStoreObjects(own, postgres.url);
    }
  });
});
