/**
 * Batched decisions against the reference model: a random batch of calls made in one event-loop turn (every
 * algorithm, concurrency leases, composites, several calls and several members on one key) leaves the store as
 * one script run at one store time, and must give the same result for every call, and the same final state, as
 * the pure functions of `src/algorithms/` applying the calls one by one, in order, at that time. After each batch,
 * random refunds (of members it allowed; leases released) and charges issued in one turn leave as one run of the
 * refund script, and must leave the state the model's refunds and charges leave applied one by one at its time.
 */

import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { acquireLease, decide, peek } from "../../../src/algorithms/index.ts";
import { stateTag } from "../../../src/algorithms/registry.ts";
import type { LimitParams } from "../../../src/algorithms/types.ts";
import type { OpResult, StoreOp } from "../../../src/stores/store.ts";
import { adaptiveParamsArb } from "../../helpers/adaptive-params.ts";
import { adjustCalls, adjustInOneTurn, adjustTurnArb, applyAdjusts } from "../../helpers/adjust-turn.ts";
import { decideTimed, peekTimed } from "../../helpers/store-times.ts";
import { requireRedis } from "../../helpers/stores.ts";
import { redisFixture } from "./setup.ts";

const redis = await requireRedis();

/** Durations agree to well under a microsecond: both sides compute in doubles from the same inputs. */
function expectSame(actual: OpResult | undefined, expected: Omit<OpResult, "fromCache">, what: string): void {
  if (actual === undefined) throw new Error(`${what}: no result`);
  expect(actual.allowed, what).toBe(expected.allowed);
  expect(actual.limit, what).toBe(expected.limit);
  expect(actual.remaining, what).toBe(expected.remaining);
  for (const field of ["resetAfterMs", "retryAfterMs", "waitMs"] as const) {
    if (Number.isFinite(expected[field])) expect(actual[field], what).toBeCloseTo(expected[field], 6);
    else expect(actual[field], what).toBe(expected[field]);
  }
}

/** One limiter of a run: a key and the params it is decided with (its state is shared by every call on it). */
interface Slot {
  readonly key: string;
  readonly params: LimitParams;
}

/** The params of each kind in a run: small limits and short periods, so calls deny and refill. */
const paramsOf = fc.record({
  token_bucket: fc.record({
    intervalMs: fc.integer({ min: 2, max: 40 }),
    burst: fc.integer({ min: 1, max: 5 }),
  }),
  leaky_bucket: fc.record({
    intervalMs: fc.integer({ min: 2, max: 40 }),
    burst: fc.integer({ min: 1, max: 5 }),
  }),
  fixed_window: fc.record({
    limit: fc.integer({ min: 1, max: 6 }),
    windowMs: fc.integer({ min: 20, max: 120 }),
  }),
  sliding_window: fc.record({
    limit: fc.integer({ min: 1, max: 6 }),
    windowMs: fc.integer({ min: 20, max: 120 }),
  }),
  sliding_window_counter: fc.record({
    limit: fc.integer({ min: 1, max: 6 }),
    windowMs: fc.integer({ min: 20, max: 120 }),
  }),
  adaptive: adaptiveParamsArb(5).map(({ kind: _, ...tuning }) => tuning),
  concurrency: fc.record({
    maxConcurrent: fc.integer({ min: 1, max: 4 }),
    leaseMs: fc.integer({ min: 20, max: 80 }),
  }),
});

type KindParams = typeof paramsOf extends fc.Arbitrary<infer T> ? T : never;

/** Every (key, kind) pair of a run: three keys, each with every kind, so calls on one key share its hash. */
function slotsOf(run: number, params: KindParams): Slot[] {
  const slots: Slot[] = [];
  for (const key of ["a", "b", "c"]) {
    for (const [kind, p] of Object.entries(params)) {
      slots.push({ key: `batch-${run}-${key}`, params: { kind, ...(p as object) } as LimitParams });
    }
  }
  return slots;
}

/** One call of a batch: its members (indexes into the run's slots, repeats allowed), costs and maxWait. */
const call = fc.record({
  members: fc.array(fc.record({ slot: fc.nat(), cost: fc.integer({ min: 1, max: 3 }) }), {
    minLength: 1,
    maxLength: 3,
  }),
  maxWaitMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 60 })),
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!redis.available)("redis batched decisions vs the reference model", () => {
  // The over-limit cache would answer some denials locally; this test is about the batch script.
  const fixture = redisFixture(redis.url, {}, { overLimitCache: false });
  afterAll(() => fixture.close());
  let run = 0;
  let lease = 0;

  it("a batch made in one turn equals the calls applied one by one at its store time (refunds too)", async () => {
    await fc.assert(
      fc.asyncProperty(
        paramsOf,
        fc.array(fc.array(call, { minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 4 }),
        fc.array(adjustTurnArb, { minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 30 }),
        async (params, batches, adjusts, pauseMs) => {
          run += 1;
          const slots = slotsOf(run, params);
          /** The model's state of each slot's state: rate hash field, or the lease set. */
          const states = new Map<string, unknown>();
          const stateId = (slot: Slot) => `${slot.key}|${stateTag(slot.params)}`;
          const chargeable = slots
            .filter((slot) => slot.params.kind !== "concurrency")
            .map((slot): StoreOp => ({ limiterId: "model", key: slot.key, params: slot.params, cost: 1 }));
          for (const [b, batch] of batches.entries()) {
            const calls = batch.map(({ members, maxWaitMs }) => ({
              maxWaitMs,
              ops: members.map(({ slot, cost }): StoreOp => {
                const { key, params: p } = slots[slot % slots.length] as Slot;
                lease += 1;
                return p.kind === "concurrency"
                  ? { limiterId: "model", key, params: p, cost: 1, leaseId: `lease-${lease}` }
                  : { limiterId: "model", key, params: p, cost };
              }),
            }));
            // Every call in the same turn: one batch.
            const timed = await Promise.all(calls.map((c) => decideTimed(fixture.store, c.ops, c.maxWaitMs)));
            const nowMs = timed[0]?.nowMs ?? Number.NaN;
            for (const t of timed) expect(t.storeNowMs).toEqual([nowMs]);
            // The model, call after call at that instant: members see the pending writes of their own call,
            // and a call's writes are kept only when every member passed.
            const allowedOps: StoreOp[] = [];
            calls.forEach((c, i) => {
              const pending = new Map<string, unknown>();
              const results = c.ops.map((op) => {
                const id = stateId(op);
                const state = pending.has(id) ? pending.get(id) : states.get(id);
                const outcome =
                  op.params.kind === "concurrency"
                    ? acquireLease(op.params, state as never, nowMs, op.leaseId ?? "")
                    : decide(op.params, { state, nowMs, cost: op.cost, maxWaitMs: c.maxWaitMs });
                if (outcome.allowed) pending.set(id, outcome.state);
                return outcome;
              });
              const actual = timed[i]?.batch;
              const all = results.every((r) => r.allowed);
              expect(actual?.allowed, `call ${i}`).toBe(all);
              results.forEach((r, j) => {
                expectSame(actual?.results[j], r, `call ${i} member ${j}`);
              });
              if (all) for (const [id, state] of pending) states.set(id, state);
              if (all) allowedOps.push(...c.ops);
            });
            // Refunds and charges, every call in one turn: one refund script run, one store time.
            const adjustments = adjustCalls(adjusts[b] ?? [], allowedOps, chargeable);
            if (adjustments.length > 0) {
              const before = fixture.store.refundBatchStats().batches;
              const at = await adjustInOneTurn(fixture.store, adjustments);
              expect(fixture.store.refundBatchStats().batches - before, "one refund run").toBe(1);
              for (const t of at) expect(t).toBe(at[0]);
              applyAdjusts(
                adjustments,
                at[0] as number,
                (op) => states.get(stateId(op)),
                (op, state) => states.set(stateId(op), state),
              );
            }
            // The final state of every slot, as a peek reads it.
            for (const slot of slots) {
              const op: StoreOp =
                slot.params.kind === "concurrency"
                  ? { limiterId: "model", key: slot.key, params: slot.params, cost: 1, leaseId: "peek" }
                  : { limiterId: "model", key: slot.key, params: slot.params, cost: 1 };
              const { result, nowMs: at } = await peekTimed(fixture.store, op);
              const state = states.get(stateId(slot));
              if (slot.params.kind === "concurrency") {
                const live = acquireLease(slot.params, state as never, at, "peek");
                expect(result.remaining, `${slot.key} leases`).toBe(live.allowed ? live.remaining + 1 : 0);
              } else {
                const expected = peek(slot.params, state, at);
                expect(result.remaining, `${slot.key} ${slot.params.kind}`).toBe(expected.remaining);
                expect(result.resetAfterMs).toBeCloseTo(Math.max(0, expected.resetAfterMs), 6);
              }
            }
            if (pauseMs > 0) await sleep(pauseMs);
          }
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);
});
