/**
 * Reference-model property test of batched decisions on the PostgreSQL store: random batches of calls issued in
 * one event-loop turn (mixed algorithms, composites, several calls and members on one key, concurrency, each
 * call with its own maxWaitMs) leave as one `<table>_decide_batch` statement. The pure algorithms of
 * `src/algorithms`, applying the same calls one by one in arrival order at the batch's store time, must give
 * every result field, and afterwards the same state (read back by peeks), and a state no call of a batch was
 * allowed on keeps its row version: denials write nothing. Refunds run between batches, and random refunds (of
 * members a batch allowed; leases released) and charges issued in one turn leave as one `<table>_refund` call,
 * which must leave the state the model's refunds and charges leave applied one by one at its store time.
 */

import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireLease, decide, peek, peekConcurrency, refund } from "../../src/algorithms/index.ts";
import type { ConcurrencyParams, LimitParams, RateParams } from "../../src/algorithms/types.ts";
import { postgresNames } from "../../src/stores/postgres/identifiers.ts";
import {
  PostgresStore,
  postgresBatchStats,
  postgresRefundBatchStats,
} from "../../src/stores/postgres/postgres-store.ts";
import { type OpResult, type StoreOp, stateTag } from "../../src/stores/store.ts";
import { adaptiveParamsArb } from "../helpers/adaptive-params.ts";
import { adjustCalls, adjustInOneTurn, adjustTurnArb, applyAdjusts } from "../helpers/adjust-turn.ts";
import { decideTimed, peekTimed, refundTimed } from "../helpers/store-times.ts";
import { requirePostgres } from "../helpers/stores.ts";
import { adminSql, dropStoreObjects, testConfig } from "./postgres/setup.ts";

const postgres = await requirePostgres();
const config = testConfig("pg_batch_model", { url: postgres.url, poolMaxSize: 2 });
const table = postgresNames(config.schemaName, config.tableName).table;
const admin = await adminSql(postgres.url);
const RUNS = Number(process.env.PG_MODEL_RUNS ?? 12);
/** Float tolerance for durations, in ms (lease expiries are rounded to microseconds by `timestamptz`). */
const MS_TOLERANCE = 1e-3;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function expectSameMs(actual: number, expected: number, what: string): void {
  if (!Number.isFinite(expected)) {
    expect(actual, what).toBe(expected);
    return;
  }
  expect(Math.abs(actual - Math.max(0, expected)), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(
    MS_TOLERANCE,
  );
}

function expectSameResult(actual: OpResult, expected: OpResult, what: string): void {
  expect(actual.allowed, `${what} allowed`).toBe(expected.allowed);
  expect(actual.limit, `${what} limit`).toBe(expected.limit);
  expect(actual.remaining, `${what} remaining`).toBe(expected.remaining);
  expectSameMs(actual.resetAfterMs, expected.resetAfterMs, `${what} resetAfterMs`);
  expectSameMs(actual.retryAfterMs, expected.retryAfterMs, `${what} retryAfterMs`);
  expectSameMs(actual.waitMs, expected.waitMs, `${what} waitMs`);
}

/** One state a member can hit: a key of a limiter with its params. */
interface Target {
  readonly limiterId: string;
  readonly key: string;
  readonly params: LimitParams;
}

const rateParamsArb: fc.Arbitrary<RateParams> = fc.oneof(
  fc.record({
    kind: fc.constantFrom("token_bucket" as const, "leaky_bucket" as const),
    intervalMs: fc.integer({ min: 1, max: 20 }),
    burst: fc.integer({ min: 1, max: 6 }),
  }),
  fc.record({
    kind: fc.constantFrom(
      "fixed_window" as const,
      "sliding_window" as const,
      "sliding_window_counter" as const,
    ),
    limit: fc.integer({ min: 1, max: 8 }),
    windowMs: fc.integer({ min: 20, max: 120 }),
  }),
  adaptiveParamsArb(8),
);
const concurrencyArb: fc.Arbitrary<ConcurrencyParams> = fc.record({
  kind: fc.constant("concurrency" as const),
  maxConcurrent: fc.integer({ min: 1, max: 4 }),
  leaseMs: fc.integer({ min: 10, max: 60 }),
});

/** A call: members as (target index, cost), and its maxWaitMs. */
interface CallSpec {
  readonly members: readonly { readonly target: number; readonly cost: number }[];
  readonly maxWaitMs: number;
}

const callArb: fc.Arbitrary<CallSpec> = fc.record({
  // A few targets only: many calls and members land on one key.
  members: fc.array(fc.record({ target: fc.nat({ max: 5 }), cost: fc.integer({ min: 1, max: 3 }) }), {
    minLength: 1,
    maxLength: 3,
  }),
  maxWaitMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 60 })),
});

const scenarioArb = fc.record({
  targets: fc.tuple(
    rateParamsArb,
    rateParamsArb,
    rateParamsArb,
    rateParamsArb,
    concurrencyArb,
    rateParamsArb,
  ),
  batches: fc.array(
    fc.record({
      calls: fc.array(callArb, { minLength: 2, maxLength: 40 }),
      sleepMs: fc.integer({ min: 0, max: 30 }),
      refund: fc.boolean(),
      adjusts: adjustTurnArb,
    }),
    { minLength: 1, maxLength: 4 },
  ),
});

/** The row version (`xmin`) of a state's row, undefined while there is none. */
async function rowVersion(target: Target): Promise<string | undefined> {
  const [row] = await admin.unsafe(
    `SELECT xmin::text AS v FROM ${table} WHERE limiter_id = $1 AND key = $2 AND tag = $3 AND lease_id = ''`,
    [target.limiterId, target.key, stateTag(target.params)],
  );
  return row?.v as string | undefined;
}

let runs = 0;

describe.skipIf(!postgres.available)("batched decisions on PostgreSQL against the reference model", () => {
  const store = new PostgresStore(config, { cleanupIntervalMs: 0, overLimitCache: false });

  beforeAll(() => store.ensureReady());

  afterAll(async () => {
    await admin.end({ timeout: 1 });
    await store.close();
    await dropStoreObjects(config);
  });

  it("a batch equals its calls one by one at the batch's store time, and leaves the same state", {
    timeout: 180_000,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        runs += 1;
        const limiterId = `batch-${runs}`;
        // Targets 0 and 1 share a key (two states of one key); the others have their own.
        const targets: Target[] = scenario.targets.map((params, i) => ({
          limiterId,
          key: i === 1 ? "k0 ü" : `k${i}`,
          params,
        }));
        const states = new Map<number, unknown>();
        let leases = 0;
        const lastAllowed: StoreOp[] = [];
        const targetOf = (op: StoreOp) =>
          targets.findIndex((t) => t.key === op.key && t.params === op.params);
        const chargeable = targets
          .filter((t) => t.params.kind !== "concurrency")
          .map((t): StoreOp => ({ ...t, cost: 1 }));
        for (const [b, batch] of scenario.batches.entries()) {
          await sleep(batch.sleepMs);
          const calls = batch.calls.map((call) => ({
            maxWaitMs: call.maxWaitMs,
            ops: call.members.map(({ target, cost }): StoreOp => {
              const t = targets[target]!;
              return t.params.kind === "concurrency"
                ? { ...t, cost: 1, leaseId: `lease-${leases++}` }
                : { ...t, cost };
            }),
          }));
          const versions = await Promise.all(targets.map(rowVersion));
          const before = postgresBatchStats(store).batches;
          // Issued in one turn: one batch.
          const replies = await Promise.all(
            calls.map((call) => decideTimed(store, call.ops, call.maxWaitMs)),
          );
          expect(postgresBatchStats(store).batches - before, "one batch").toBe(1);
          const nowMs = replies[0]!.nowMs;
          const touched = new Set<number>();
          const allowedOps: StoreOp[] = [];
          for (const [c, call] of calls.entries()) {
            const reply = replies[c]!;
            expect(reply.nowMs, `batch ${b} call ${c}: one store time`).toBe(nowMs);
            const tentative = new Map(states);
            let all = true;
            for (const [m, op] of call.ops.entries()) {
              const target = batch.calls[c]!.members[m]!.target;
              const params = targets[target]!.params;
              const state = tentative.get(target);
              const outcome =
                params.kind === "concurrency"
                  ? acquireLease(params, state as never, nowMs, op.leaseId!)
                  : decide(params, { state, nowMs, cost: op.cost, maxWaitMs: call.maxWaitMs });
              expectSameResult(reply.batch.results[m]!, outcome, `batch ${b} call ${c} member ${m}`);
              if (outcome.allowed) tentative.set(target, outcome.state);
              all &&= outcome.allowed;
            }
            expect(reply.batch.allowed, `batch ${b} call ${c} allowed`).toBe(all);
            if (all) {
              allowedOps.push(...call.ops);
              for (const [m, op] of call.ops.entries()) {
                touched.add(batch.calls[c]!.members[m]!.target);
                if (op.params.kind !== "concurrency") lastAllowed.push(op);
              }
              for (const [target, state] of tentative) states.set(target, state);
            }
          }
          // A state no allowed call touched was not written.
          for (const [i, target] of targets.entries()) {
            if (target.params.kind === "concurrency" || touched.has(i) || versions[i] === undefined) continue;
            expect(await rowVersion(target), `batch ${b} target ${i} row version`).toBe(versions[i]);
          }
          const given = lastAllowed.pop();
          if (batch.refund && given !== undefined) {
            const at = await refundTimed(store, [given]);
            const target = targets.findIndex((t) => t.key === given.key && t.params === given.params);
            states.set(target, refund(given.params as RateParams, states.get(target), at, given.cost).state);
          }
          // Refunds and charges, every call in one turn: one `<table>_refund` call, one store time.
          const adjustments = adjustCalls(batch.adjusts, allowedOps, chargeable);
          if (adjustments.length > 0) {
            const refundsBefore = postgresRefundBatchStats(store).batches;
            const at = await adjustInOneTurn(store, adjustments);
            expect(postgresRefundBatchStats(store).batches - refundsBefore, "one refund call").toBe(1);
            for (const t of at) expect(t, `batch ${b}: one refund time`).toBe(at[0]);
            applyAdjusts(
              adjustments,
              at[0]!,
              (op) => states.get(targetOf(op)),
              (op, state) => states.set(targetOf(op), state),
            );
          }
        }
        // The state the batches left, as peeks read it.
        for (const [i, target] of targets.entries()) {
          const op: StoreOp =
            target.params.kind === "concurrency"
              ? { ...target, cost: 1, leaseId: "peek" }
              : { ...target, cost: 1 };
          const { result, nowMs } = await peekTimed(store, op);
          const state = states.get(i);
          if (target.params.kind === "concurrency") {
            const view = peekConcurrency(target.params, state as never, nowMs);
            const dryRun = acquireLease(target.params, state as never, nowMs, "");
            expectSameResult(
              result,
              { ...view, allowed: dryRun.allowed, retryAfterMs: dryRun.retryAfterMs, waitMs: 0 },
              `final peek ${i}`,
            );
          } else {
            const view = peek(target.params, state, nowMs);
            const dryRun = decide(target.params, { state, nowMs, cost: 1, maxWaitMs: 0 });
            expectSameResult(
              result,
              { ...view, allowed: dryRun.allowed, retryAfterMs: dryRun.retryAfterMs, waitMs: 0 },
              `final peek ${i}`,
            );
          }
        }
      }),
      { numRuns: RUNS },
    );
  });
});
