/**
 * Reference-model property test: random sequences of calls run against the Lua scripts on a real Redis and, at
 * the store time each script reports, against the pure functions of `src/algorithms/`. Every field must agree.
 * Lone single rate ops through the store run the lean per-algorithm scripts; the batch decide script is run
 * directly (single ops and composites), and calls of both kinds, peeks and refunds share one state.
 */

import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { acquireLease, decide, peek, refund, releaseLease } from "../../../src/algorithms/index.ts";
import type { ConcurrencyParams, ConcurrencyState, RateParams } from "../../../src/algorithms/types.ts";
import {
  type DecodedReply,
  decodeReply,
  decodeTime,
  encodeBatch,
  encodeCall,
  encodeOps,
} from "../../../src/stores/redis/codec.ts";
import { BATCH_DECIDE_SCRIPT, PEEK_SCRIPT, REFUND_SCRIPT } from "../../../src/stores/redis/lua.ts";
import type { BatchResult, OpResult, StoreOp } from "../../../src/stores/store.ts";
import { adaptiveParamsArb } from "../../helpers/adaptive-params.ts";
import { decideTimed } from "../../helpers/store-times.ts";
import { requireRedis } from "../../helpers/stores.ts";
import { redisFixture } from "./setup.ts";

const redis = await requireRedis();

/** Durations agree to well under a microsecond: both sides compute in doubles from the same inputs. */
function expectSame(actual: OpResult, expected: Omit<OpResult, "fromCache">): void {
  expect(actual.allowed).toBe(expected.allowed);
  expect(actual.limit).toBe(expected.limit);
  expect(actual.remaining).toBe(expected.remaining);
  for (const field of ["resetAfterMs", "retryAfterMs", "waitMs"] as const) {
    if (Number.isFinite(expected[field])) expect(actual[field]).toBeCloseTo(expected[field], 6);
    else expect(actual[field]).toBe(expected[field]);
  }
}

/**
 * Checks a whole decision against the model's outcome of each member (all-or-nothing), and advances the model's
 * states when every member was allowed.
 */
function expectBatch(
  batch: BatchResult,
  expected: readonly (Omit<OpResult, "fromCache"> & { readonly state: unknown })[],
  states: unknown[],
): void {
  expected.forEach((e, i) => {
    const actual = batch.results[i];
    if (actual === undefined) throw new Error("missing member result");
    expectSame(actual, e);
  });
  const all = expected.every((e) => e.allowed);
  expect(batch.allowed).toBe(all);
  if (!all) return;
  for (let i = 0; i < expected.length; i++) states[i] = expected[i]!.state;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const rateParams: fc.Arbitrary<RateParams> = fc.oneof(
  fc.record({
    kind: fc.constantFrom("token_bucket" as const, "leaky_bucket" as const),
    intervalMs: fc.integer({ min: 2, max: 40 }),
    burst: fc.integer({ min: 1, max: 5 }),
  }),
  fc.record({
    kind: fc.constantFrom(
      "fixed_window" as const,
      "sliding_window" as const,
      "sliding_window_counter" as const,
    ),
    limit: fc.integer({ min: 1, max: 6 }),
    windowMs: fc.integer({ min: 20, max: 120 }),
  }),
  adaptiveParamsArb(),
);

const step = fc.record({
  cost: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 7 })),
  maxWaitMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 100 })),
  sleepMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 30 })),
});

describe.skipIf(!redis.available)("redis scripts vs the reference model", () => {
  // The over-limit cache would answer some denials locally (without a store time); this test is about scripts.
  const fixture = redisFixture(redis.url, {}, { overLimitCache: false });
  afterAll(() => fixture.close());
  let run = 0;

  /** Runs a general script (decide, peek or refund) on ops, bypassing the store's choice of script. */
  const general = async (script: string, ops: readonly StoreOp[], maxWaitMs: number): Promise<unknown> => {
    const { keys, args } = encodeOps(fixture.config.keyPrefix, ops, maxWaitMs);
    return fixture.raw.eval(script, keys.length, ...keys, ...args);
  };
  /** The batch decide script with one call: what the store sends when calls share a turn. */
  const generalDecide = async (ops: readonly StoreOp[], maxWaitMs: number): Promise<DecodedReply> => {
    const call = encodeCall(fixture.config.keyPrefix, ops, maxWaitMs, "");
    const [numberOfKeys, ...rest] = encodeBatch([call]);
    const reply = (await fixture.raw.eval(BATCH_DECIDE_SCRIPT, numberOfKeys as number, ...rest)) as unknown[];
    return decodeReply(reply[0], ops.length);
  };

  it("lean and general decide scripts, peek and refund agree and share one state", async () => {
    const call = fc.record({
      via: fc.constantFrom(
        "lean" as const,
        "general" as const,
        "peek" as const,
        "refund" as const,
        "charge" as const,
      ),
      cost: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 7 })),
      maxWaitMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 100 })),
      sleepMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 30 })),
    });
    await fc.assert(
      fc.asyncProperty(rateParams, fc.array(call, { minLength: 1, maxLength: 16 }), async (params, calls) => {
        run += 1;
        const key = `mixed-${run}`;
        let state: unknown;
        // Cost of the last allowed decision not yet refunded: what a caller could give back.
        let refundable: number | undefined;
        for (const { via, cost, maxWaitMs, sleepMs } of calls) {
          const op: StoreOp = { limiterId: "model", key, params, cost };
          if (via === "lean" || via === "general") {
            let nowMs: number | undefined;
            let actual: OpResult | undefined;
            if (via === "lean") {
              const { batch, storeNowMs } = await decideTimed(fixture.store, [op], maxWaitMs);
              nowMs = storeNowMs[0];
              actual = batch.results[0];
            } else {
              const reply = await generalDecide([op], maxWaitMs);
              nowMs = reply.storeNowMs;
              actual = reply.results[0];
            }
            if (nowMs === undefined || actual === undefined) throw new Error("no store time or result");
            const expected = decide(params, { state, nowMs, cost, maxWaitMs });
            expectSame(actual, expected);
            state = expected.state;
            if (expected.allowed) refundable = cost;
          } else if (via === "peek") {
            const reply = decodeReply(await general(PEEK_SCRIPT, [op], 0), 1);
            const actual = reply.results[0];
            if (actual === undefined) throw new Error("no peek result");
            const expected = peek(params, state, reply.storeNowMs);
            expect(actual.limit).toBe(expected.limit);
            expect(actual.remaining).toBe(expected.remaining);
            expect(actual.resetAfterMs).toBeCloseTo(Math.max(0, expected.resetAfterMs), 6);
            const would = decide(params, { state, nowMs: reply.storeNowMs, cost, maxWaitMs: 0 });
            expect(actual.allowed).toBe(would.allowed);
          } else if (via === "charge") {
            // A charge is the refund script with a negative cost; the model applies the same.
            const nowMs = decodeTime(await general(REFUND_SCRIPT, [{ ...op, cost: -cost }], 0));
            const after = refund(params, state, nowMs, -cost);
            state = after.state;
            const [stateKey] = encodeOps(fixture.config.keyPrefix, [op], 0).keys;
            // The key lives at least until the charged state stops constraining anything (absolute ms).
            const expiresAt = Number(await fixture.raw.call("PEXPIRETIME", stateKey ?? ""));
            expect(expiresAt).toBeGreaterThanOrEqual(nowMs + after.ttlMs);
          } else if (refundable !== undefined) {
            const given = { ...op, cost: refundable };
            const nowMs = decodeTime(await general(REFUND_SCRIPT, [given], 0));
            state = refund(params, state, nowMs, refundable).state;
            refundable = undefined;
          }
          if (sleepMs > 0) await sleep(sleepMs);
        }
      }),
      { numRuns: 40 },
    );
  });

  const chargedParams: RateParams[] = [
    { kind: "sliding_window", limit: 3, windowMs: 200 },
    {
      kind: "adaptive",
      limit: 3,
      windowMs: 200,
      burstMultiplier: 2,
      adaptiveWindowMs: 400,
      highLoad: 0.8,
      lowLoad: 0.4,
      penalty: 0.5,
    },
  ];
  for (const params of chargedParams) {
    it(`${params.kind}: a charge on an empty state, within one ms, in debt and after expiry agrees`, async () => {
      run += 1;
      const op: StoreOp = { limiterId: "model", key: `charged-${run}`, params, cost: 1 };
      const [stateKey = ""] = encodeOps(fixture.config.keyPrefix, [op], 0).keys;
      let state: unknown;
      /** Charges `costs` in one script run (one store time), on the model too. */
      const charge = async (...costs: number[]): Promise<void> => {
        const ops = costs.map((cost) => ({ ...op, cost: -cost }));
        const nowMs = decodeTime(await general(REFUND_SCRIPT, ops, 0));
        let ttlMs = 0;
        for (const cost of costs) ({ state, ttlMs } = refund(params, state, nowMs, -cost));
        expect(Number(await fixture.raw.call("PEXPIRETIME", stateKey))).toBeGreaterThanOrEqual(nowMs + ttlMs);
      };
      const decideBoth = async (): Promise<void> => {
        for (const lean of [true, false]) {
          const reply = lean
            ? await decideTimed(fixture.store, [op], 0).then(({ batch, storeNowMs }) => ({
                nowMs: storeNowMs[0],
                result: batch.results[0],
              }))
            : await generalDecide([op], 0).then((r) => ({ nowMs: r.storeNowMs, result: r.results[0] }));
          if (reply.nowMs === undefined || reply.result === undefined)
            throw new Error("no store time or result");
          const expected = decide(params, { state, nowMs: reply.nowMs, cost: 1, maxWaitMs: 0 });
          expectSame(reply.result, expected);
          if (expected.allowed) state = expected.state;
        }
      };
      // An empty state, charged twice in one ms: in debt, denied alike (the log keeps one entry).
      await charge(2, 3);
      if (params.kind === "sliding_window") {
        const field = await fixture.raw.hvals(stateKey);
        expect(String(field[0]).split(",")).toHaveLength(2);
      }
      await decideBoth();
      await sleep(90);
      await charge(1);
      await decideBoth();
      await sleep(130);
      await decideBoth();
      // After the state expired (the log after one window, adaptive after its forget windows): from empty again.
      await sleep(params.kind === "adaptive" ? 4300 : 250);
      await charge(4);
      await decideBoth();
      await sleep(250);
      await decideBoth();
    }, 20_000);
  }

  it("composites of every rate algorithm agree, interleaved with lean single-op calls", async () => {
    const call = fc.record({
      composite: fc.boolean(),
      costs: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
      sleepMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 20 })),
    });
    await fc.assert(
      fc.asyncProperty(rateParams, fc.array(call, { minLength: 1, maxLength: 10 }), async (params, calls) => {
        run += 1;
        const keys = [`pair-a-${run}`, `pair-b-${run}`];
        const states: unknown[] = [undefined, undefined];
        for (const { composite, costs, sleepMs } of calls) {
          const ops: StoreOp[] = (composite ? [0, 1] : [0]).map((i) => ({
            limiterId: "model",
            key: keys[i] ?? "",
            params,
            cost: costs[i] ?? 1,
          }));
          // A composite goes to the general script (through the store); a single op to the lean one.
          const { batch, storeNowMs } = await decideTimed(fixture.store, ops, 0);
          const nowMs = storeNowMs[0] ?? 0;
          const expected = ops.map((op, i) =>
            decide(params, { state: states[i], nowMs, cost: op.cost, maxWaitMs: 0 }),
          );
          expectBatch(batch, expected, states);
          if (sleepMs > 0) await sleep(sleepMs);
        }
      }),
      { numRuns: 30 },
    );
  });

  it("rate algorithms agree on random call sequences", async () => {
    await fc.assert(
      fc.asyncProperty(rateParams, fc.array(step, { minLength: 1, maxLength: 14 }), async (params, steps) => {
        run += 1;
        const key = `model-${run}`;
        let state: unknown;
        for (const { cost, maxWaitMs, sleepMs } of steps) {
          // Token buckets accept fractional costs; the others count whole units.
          const op: StoreOp = { limiterId: "model", key, params, cost };
          const { batch, storeNowMs } = await decideTimed(fixture.store, [op], maxWaitMs);
          const nowMs = storeNowMs[0];
          const actual = batch.results[0];
          if (nowMs === undefined || actual === undefined) throw new Error("no store time or result");
          const expected = decide(params, { state, nowMs, cost, maxWaitMs });
          expectSame(actual, expected);
          expect(batch.allowed).toBe(expected.allowed);
          state = expected.state;
          if (sleepMs > 0) await sleep(sleepMs);
        }
      }),
      { numRuns: 40 },
    );
  });

  it("fractional token bucket costs agree", async () => {
    const params: RateParams = { kind: "token_bucket", intervalMs: 7, burst: 3 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.double({ min: 0.01, max: 3.5, noNaN: true }), { maxLength: 12 }),
        async (costs) => {
          run += 1;
          const key = `fraction-${run}`;
          let state: unknown;
          for (const cost of costs) {
            const { batch, storeNowMs } = await decideTimed(
              fixture.store,
              [{ limiterId: "model", key, params, cost }],
              0,
            );
            const nowMs = storeNowMs[0];
            const actual = batch.results[0];
            if (nowMs === undefined || actual === undefined) throw new Error("no store time or result");
            const expected = decide(params, { state, nowMs, cost, maxWaitMs: 0 });
            expectSame(actual, expected);
            state = expected.state;
          }
        },
      ),
      { numRuns: 20 },
    );
  });

  it("concurrency leases agree (acquire and release)", async () => {
    const action = fc.record({
      release: fc.boolean(),
      lease: fc.integer({ min: 0, max: 5 }),
      sleepMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 25 })),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 20, max: 80 }),
        fc.array(action, { minLength: 1, maxLength: 14 }),
        async (maxConcurrent, leaseMs, actions) => {
          run += 1;
          const key = `lease-${run}`;
          const params: ConcurrencyParams = { kind: "concurrency", maxConcurrent, leaseMs };
          let state: ConcurrencyState | undefined;
          let lastNowMs = 0;
          for (const { release, lease, sleepMs } of actions) {
            const leaseId = `lease-${lease}`;
            if (release) {
              await fixture.store.release("model", key, leaseId);
              // Release only deletes; which expired leases the model drops does not change later decisions.
              state = releaseLease(state, lastNowMs, leaseId).state;
            } else {
              const op: StoreOp = { limiterId: "model", key, params, cost: 1, leaseId };
              const { batch, storeNowMs } = await decideTimed(fixture.store, [op], 0);
              const nowMs = storeNowMs[0];
              const actual = batch.results[0];
              if (nowMs === undefined || actual === undefined) throw new Error("no store time or result");
              const expected = acquireLease(params, state, nowMs, leaseId);
              expectSame(actual, expected);
              state = expected.state;
              lastNowMs = nowMs;
            }
            if (sleepMs > 0) await sleep(sleepMs);
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it("composites agree: all members applied or none", async () => {
    const params: RateParams[] = [
      { kind: "fixed_window", limit: 3, windowMs: 60_000 },
      { kind: "token_bucket", intervalMs: 1_000, burst: 2 },
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 })), { maxLength: 8 }),
        async (costs) => {
          run += 1;
          const keys = [`c-fw-${run}`, `c-tb-${run}`];
          const states: unknown[] = [undefined, undefined];
          for (const pair of costs) {
            const ops: StoreOp[] = params.map((p, i) => ({
              limiterId: "model",
              key: keys[i] ?? "",
              params: p,
              cost: pair[i] ?? 1,
            }));
            const { batch, storeNowMs } = await decideTimed(fixture.store, ops, 0);
            const nowMs = storeNowMs[0] ?? 0;
            const expected = params.map((p, i) =>
              decide(p, { state: states[i], nowMs, cost: pair[i] ?? 1, maxWaitMs: 0 }),
            );
            expectBatch(batch, expected, states);
          }
        },
      ),
      { numRuns: 20 },
    );
  });
});
