/**
 * Peeks made in one event-loop turn go as one batch per Redis node or Cluster hash slot (one run of the peek
 * script, at most 32 peeks) and per PostgreSQL store (one `<table>_decide` call in peek mode), and each peek says
 * what it says alone; a batch that fails rejects each of its callers. On a real Redis, a real 3-node Redis
 * Cluster and a real PostgreSQL.
 */

import { afterAll, describe, expect, it } from "vitest";
import type { BlockSpec } from "../../../src/algorithms/block/decide.ts";
import type { ConcurrencyParams, RateParams } from "../../../src/algorithms/types.ts";
import type { TurnBatcherStats } from "../../../src/stores/batching/turn-batcher.ts";
import type { GuardedStore } from "../../../src/stores/guard/guarded-store.ts";
import type { StoreDriver } from "../../../src/stores/guard/store-driver.ts";
import { postgresNames } from "../../../src/stores/postgres/identifiers.ts";
import { PostgresStore, postgresPeekBatchStats } from "../../../src/stores/postgres/postgres-store.ts";
import { hashSlot, stateKey } from "../../../src/stores/redis/keys.ts";
import type { OpResult, StoreOp } from "../../../src/stores/store.ts";
import { requirePostgres, requireRedis } from "../../helpers/stores.ts";
import { adminSql, dropStoreObjects, testConfig } from "../postgres/setup.ts";
import { redisFixture } from "../redis/setup.ts";
import { clusterStoreForBlock, expectEachCallerFailed } from "./fixtures.ts";

const redis = await requireRedis();
const postgres = await requirePostgres();

type AnyStore = GuardedStore<StoreDriver>;

/** Limits that never refill or roll over during a test: a peek now and a peek a moment later agree. */
const window: RateParams = { kind: "fixed_window", limit: 100, windowMs: 3_600_000 };
const log: RateParams = { kind: "sliding_window", limit: 100, windowMs: 3_600_000 };
const bucket: RateParams = { kind: "token_bucket", intervalMs: 3_600_000, burst: 100 };
const slots: ConcurrencyParams = { kind: "concurrency", maxConcurrent: 100, leaseMs: 3_600_000 };
/** A limit of one whose block lasts an hour: its second call starts the block. */
const tight: RateParams = { kind: "fixed_window", limit: 1, windowMs: 3_600_000 };
const block: BlockSpec = { durationsMs: [3_600_000], memoryMs: 0, span: 1 };
const KEYS = ["k0", "k1", "k2", "k3", "k4"];

/** The op of peek `i` of 40: every kind of op, over five keys, the last five on a blocked key. */
function peekOp(limiterId: string, i: number): StoreOp {
  if (i >= 35) return { limiterId, key: "blocked", params: tight, cost: 1, block };
  const key = KEYS[i % KEYS.length] as string;
  const params = [window, log, bucket, slots][i % 4] as RateParams | ConcurrencyParams;
  return { limiterId, key, params, cost: 1 + (i % 3), ...(params === slots ? { leaseId: "peek" } : {}) };
}

/** Uses a different amount of every state, takes leases, and blocks the `blocked` key. */
async function fill(store: AnyStore, limiterId: string): Promise<void> {
  for (const [k, key] of KEYS.entries()) {
    for (const params of [window, log, bucket]) {
      const ops: StoreOp[] = [{ limiterId, key, params, cost: 10 + 7 * k }];
      expect((await store.decide(ops, 0)).allowed).toBe(true);
    }
    for (let n = 0; n <= k; n++) {
      const lease: StoreOp = { limiterId, key, params: slots, cost: 1, leaseId: `l${n}` };
      expect((await store.decide([lease], 0)).allowed).toBe(true);
    }
  }
  const blocked: StoreOp = { limiterId, key: "blocked", params: tight, cost: 1, block };
  expect((await store.decide([blocked], 0)).allowed).toBe(true);
  const denied = await store.decide([blocked], 0);
  expect(denied.results[0]?.block?.started).toBe(true);
}

/** What of a peek stays put while nothing refills: the answer, the limit, what is left, the block. */
function steady(result: OpResult): unknown {
  return [result.allowed, result.limit, result.remaining, result.block?.count];
}

/** 40 peeks in one turn and the same 40 one by one: the same answers; returns the batches of the turn. */
async function turnAgainstOneByOne(store: AnyStore, stats: () => TurnBatcherStats, limiterId: string) {
  await fill(store, limiterId);
  const ops = Array.from({ length: 40 }, (_, i) => peekOp(limiterId, i));
  const start = stats();
  const together = await Promise.all(ops.map((op) => store.peek(op)));
  const afterTurn = stats();
  const alone: OpResult[] = [];
  for (const op of ops) alone.push(await store.peek(op));
  const end = stats();
  expect(together.map(steady)).toEqual(alone.map(steady));
  // The peeks read real state: not every answer is the same, and the blocked key reads as blocked.
  expect(new Set(together.map((result) => result.remaining)).size).toBeGreaterThan(5);
  expect(together[39]?.allowed).toBe(false);
  expect(together[39]?.block?.count).toBe(1);
  expect(end.batches - afterTurn.batches).toBe(40);
  return { batches: afterTurn.batches - start.batches, items: afterTurn.items - start.items };
}

describe.skipIf(!redis.available)("peek batches on Redis", () => {
  const { store, config, raw, close } = redisFixture(redis.url, {}, { overLimitCache: false });
  afterAll(close);

  it("40 peeks of one turn go as two script runs and say what they say one by one", async () => {
    const sent = await turnAgainstOneByOne(store, () => store.peekBatchStats(), "turn");
    expect(sent).toEqual({ batches: 2, items: 40 }); // 32 + 8
  });

  it("a failed run rejects each of its callers", async () => {
    // A state key that holds a string: the peek script fails on it, and with it the whole run.
    await raw.set(stateKey(config.keyPrefix, "poison", "bad"), "not a hash");
    const before = store.peekBatchStats().batches;
    const errorsBefore = store.stats().errors;
    const settled = await Promise.allSettled(
      ["good", "other", "bad"].map((key) =>
        store.peek({ limiterId: "poison", key, params: window, cost: 1 }),
      ),
    );
    expectEachCallerFailed(
      settled,
      store.peekBatchStats().batches - before,
      store.stats().errors - errorsBefore,
    );
    // The next turn's peeks go on.
    expect((await store.peek({ limiterId: "poison", key: "good", params: window, cost: 1 })).remaining).toBe(
      100,
    );
  });
});

describe.skipIf(!redis.available)("peek batches on a Redis Cluster", () => {
  const cluster = clusterStoreForBlock();

  it("peeks of one turn go as one run per hash slot and say what they say one by one", async () => {
    const { store, prefix } = cluster;
    const sent = await turnAgainstOneByOne(store, () => store.peekBatchStats(), "turn");
    const perSlot = new Map<number, number>();
    for (let i = 0; i < 40; i++) {
      const op = peekOp("turn", i);
      const slot = hashSlot(stateKey(prefix, op.limiterId, op.key));
      perSlot.set(slot, (perSlot.get(slot) ?? 0) + 1);
    }
    const runs = [...perSlot.values()].reduce((a, b) => a + Math.ceil(b / 32), 0);
    expect(perSlot.size).toBeGreaterThan(1);
    expect(sent).toEqual({ batches: runs, items: 40 });
  });
});

describe.skipIf(!postgres.available)("peek batches on PostgreSQL", () => {
  const config = testConfig("peek_batches", { url: postgres.url, poolMaxSize: 2 });
  const store = new PostgresStore(config, { cleanupIntervalMs: 0, overLimitCache: false });
  afterAll(async () => {
    await store.close();
    await dropStoreObjects(config, postgres.url);
  });

  it("40 peeks of one turn go as one call and say what they say one by one", async () => {
    const sent = await turnAgainstOneByOne(store, () => postgresPeekBatchStats(store), "turn");
    expect(sent).toEqual({ batches: 1, items: 40 });
  });

  it("a failed call rejects each of its callers", async () => {
    const own = testConfig("peek_batches_fail", { url: postgres.url, poolMaxSize: 2 });
    const failing = new PostgresStore(own, { cleanupIntervalMs: 0, overLimitCache: false });
    const admin = await adminSql(postgres.url);
    try {
      await failing.ensureReady();
      // This store's own general decide function gone: its next batch of peeks fails, and every peek in it.
      await admin.unsafe(`DROP FUNCTION ${postgresNames(own.schemaName, own.tableName).decideFunction}`);
      const before = postgresPeekBatchStats(failing).batches;
      const errorsBefore = failing.stats().errors;
      const settled = await Promise.allSettled(
        ["a", "b", "c"].map((key) => failing.peek({ limiterId: "f", key, params: window, cost: 1 })),
      );
      expectEachCallerFailed(
        settled,
        postgresPeekBatchStats(failing).batches - before,
        failing.stats().errors - errorsBefore,
      );
    } finally {
      await admin.end({ timeout: 1 });
      await failing.close();
      await dropStoreObjects(own, postgres.url);
    }
  });
});
