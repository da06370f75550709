/**
 * Blocks in batched decisions against the reference model, on Redis (the batch script) and PostgreSQL (the
 * batch function): random batches of calls made in one event-loop turn — limiters with a block (fixed or
 * escalating, with and without several limits), composites mixing them with limiters without one — must give
 * the same result for every call, blocks included, as the in-process rules (`decideComposite`, the memory and
 * SQLite stores' code) applying the calls one by one at the batch's store time. Blocks and their memory last a
 * few milliseconds, so runs see blocks start, hold, end, escalate and be forgotten.
 */

import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BLOCK_TAG, type BlockSpec } from "../../src/algorithms/block/decide.ts";
import type { RateParams } from "../../src/algorithms/types.ts";
import type { GuardedStore } from "../../src/stores/guard/guarded-store.ts";
import type { StoreDriver } from "../../src/stores/guard/store-driver.ts";
import { decideComposite } from "../../src/stores/in-process.ts";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.ts";
import { type OpResult, type StoreOp, stateTag } from "../../src/stores/store.ts";
import { decideTimed } from "../helpers/store-times.ts";
import { requirePostgres, requireRedis } from "../helpers/stores.ts";
import { dropStoreObjects, testConfig } from "./postgres/setup.ts";
import { redisFixture } from "./redis/setup.ts";

const redis = await requireRedis();
const postgres = await requirePostgres();

/** Durations agree to well under a microsecond (PostgreSQL's `timestamptz` keeps microseconds). */
function expectSame(actual: OpResult | undefined, expected: OpResult, what: string): void {
  if (actual === undefined) throw new Error(`${what}: no result`);
  expect(actual.allowed, what).toBe(expected.allowed);
  expect(actual.limit, what).toBe(expected.limit);
  expect(actual.remaining, what).toBe(expected.remaining);
  for (const field of ["resetAfterMs", "retryAfterMs", "waitMs"] as const) {
    if (Number.isFinite(expected[field])) expect(actual[field], what).toBeCloseTo(expected[field], 2);
    else expect(actual[field], what).toBe(expected[field]);
  }
  expect(actual.block?.started, `${what} block started`).toBe(expected.block?.started);
  expect(actual.block?.count, `${what} block count`).toBe(expected.block?.count);
  if (expected.block !== undefined) expect(actual.block?.leftMs).toBeCloseTo(expected.block.leftMs, 2);
}

/** A limiter of a run: its rate ops (the first carries the block, when it has one). */
interface Limiter {
  readonly id: string;
  readonly limits: readonly RateParams[];
  readonly block?: BlockSpec;
}

const blockArb = fc.record({
  durationsMs: fc.array(fc.integer({ min: 3, max: 30 }), { minLength: 1, maxLength: 3 }),
  memoryMs: fc.integer({ min: 0, max: 30 }),
});

/** Four limiters: a blocking bucket, a blocking pair of limits, a blocking window, and one without a block. */
const limitersArb = fc
  .tuple(blockArb, blockArb, blockArb, fc.integer({ min: 2, max: 20 }), fc.integer({ min: 1, max: 3 }))
  .map(([b1, b2, b3, intervalMs, burst]): Limiter[] => [
    {
      id: "bucket",
      limits: [{ kind: "token_bucket", intervalMs, burst }],
      block: { ...b1, span: 1 },
    },
    {
      id: "pair",
      limits: [
        { kind: "token_bucket", intervalMs, burst: burst + 1 },
        { kind: "fixed_window", limit: burst, windowMs: 40, part: 1 },
      ],
      block: { ...b2, span: 2 },
    },
    {
      id: "window",
      limits: [{ kind: "sliding_window", limit: burst, windowMs: 30 }],
      block: { ...b3, span: 1 },
    },
    { id: "plain", limits: [{ kind: "fixed_window", limit: burst, windowMs: 25 }] },
  ]);

/** One call: its members (limiter index, key index), all with cost 1. */
const callArb = fc.array(fc.record({ limiter: fc.nat(3), key: fc.nat(1) }), { minLength: 1, maxLength: 2 });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Backend {
  readonly name: string;
  readonly available: boolean;
  store(): GuardedStore<StoreDriver>;
  setup(): Promise<void>;
  teardown(): Promise<void>;
}

const redisStore = redis.available ? redisFixture(redis.url, {}, { overLimitCache: false }) : undefined;
const pgConfig = testConfig("block_model", { url: postgres.url, poolMaxSize: 2 });
const pgStore = postgres.available
  ? new PostgresStore(pgConfig, { cleanupIntervalMs: 0, overLimitCache: false })
  : undefined;

const backends: Backend[] = [
  {
    name: "redis",
    available: redis.available,
    store: () => redisStore!.store as unknown as GuardedStore<StoreDriver>,
    setup: async () => {},
    teardown: async () => redisStore?.close(),
  },
  {
    name: "postgres",
    available: postgres.available,
    store: () => pgStore as unknown as GuardedStore<StoreDriver>,
    setup: async () => pgStore?.ensureReady(),
    teardown: async () => {
      await pgStore?.close();
      await dropStoreObjects(pgConfig);
    },
  },
];

for (const backend of backends) {
  describe.skipIf(!backend.available)(`blocks in ${backend.name} batches vs the reference model`, () => {
    beforeAll(() => backend.setup());
    afterAll(() => backend.teardown());
    let run = 0;

    it("a batch made in one turn equals the calls applied one by one by the in-process rules", async () => {
      await fc.assert(
        fc.asyncProperty(
          limitersArb,
          fc.array(fc.array(callArb, { minLength: 1, maxLength: 24 }), { minLength: 2, maxLength: 6 }),
          fc.integer({ min: 0, max: 25 }),
          async (limiters, batches, pauseMs) => {
            run += 1;
            /** The model's states: `limiterId|key|tag` → state, with its expiry. */
            const states = new Map<string, { state: unknown; expiresAt: number }>();
            const keyOf = (i: number) => `block-${run}-${i}`;
            for (const batch of batches) {
              const calls = batch.map((members) =>
                members.flatMap(({ limiter, key }): StoreOp[] => {
                  const l = limiters[limiter]!;
                  return l.limits.map((params, i) => ({
                    limiterId: `${l.id}-${run}`,
                    key: keyOf(key),
                    params,
                    cost: 1,
                    ...(i === 0 && l.block !== undefined ? { block: l.block } : {}),
                  }));
                }),
              );
              const timed = await Promise.all(calls.map((ops) => decideTimed(backend.store(), ops, 0)));
              const nowMs = timed[0]?.nowMs ?? Number.NaN;
              for (const t of timed) expect(t.storeNowMs).toEqual([nowMs]);
              calls.forEach((ops, c) => {
                type Ref = string;
                const expected = decideComposite<Ref>(ops, 0, nowMs, {
                  refOf: (op) => `${op.limiterId}|${op.key}|${stateTag(op.params)}`,
                  same: (a, b) => a === b,
                  read: (ref) => {
                    const held = states.get(ref);
                    return held !== undefined && held.expiresAt > nowMs ? held.state : undefined;
                  },
                  write: (ref, state, ttlMs) => {
                    if (state === undefined || !(ttlMs > 0)) states.delete(ref);
                    else states.set(ref, { state, expiresAt: nowMs + ttlMs });
                  },
                  blockRefOf: (op) => `${op.limiterId}|${op.key}|${BLOCK_TAG}`,
                });
                const actual = timed[c]?.batch;
                expect(actual?.allowed, `call ${c}`).toBe(expected.allowed);
                expected.results.forEach((r, j) => {
                  expectSame(actual?.results[j], r, `call ${c} member ${j}`);
                });
              });
              if (pauseMs > 0) await sleep(pauseMs);
            }
          },
        ),
        { numRuns: 25 },
      );
    }, 120_000);
  });
}
