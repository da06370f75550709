/**
 * Property tests shared by every rate algorithm: a denied call leaves the state as it was, peek agrees with
 * decide, a retry hint is honoured and tight, a refund undoes a call. The per-algorithm limits (never more than
 * the limit in the window each promises) are in the algorithm's own test file.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decide, peek, refund } from "../../src/algorithms/index.ts";
import type { RateParams } from "../../src/algorithms/types.ts";
import { FAKE_EPOCH_MS } from "../helpers/clock.ts";

/** A sequence of calls: time steps (quarter milliseconds, so fractions occur) and integer costs. */
const calls = fc.array(
  fc.record({ dtQuarterMs: fc.integer({ min: 0, max: 2400 }), cost: fc.integer({ min: 1, max: 4 }) }),
  {
    maxLength: 60,
  },
);

const paramsArb: fc.Arbitrary<RateParams> = fc.oneof(
  fc.record({
    kind: fc.constantFrom("token_bucket" as const, "leaky_bucket" as const),
    intervalMs: fc.integer({ min: 1, max: 500 }),
    burst: fc.integer({ min: 1, max: 8 }),
  }),
  fc.record({
    kind: fc.constantFrom(
      "fixed_window" as const,
      "sliding_window" as const,
      "sliding_window_counter" as const,
    ),
    limit: fc.integer({ min: 1, max: 8 }),
    windowMs: fc.integer({ min: 10, max: 2000 }),
  }),
);

/** Replays `events` from the fake epoch, calling `check` before each decision with the state it starts from. */
function replay(
  params: RateParams,
  events: readonly { dtQuarterMs: number; cost: number }[],
  check: (state: unknown, nowMs: number, cost: number) => void,
): void {
  let now = FAKE_EPOCH_MS;
  let state: unknown;
  for (const { dtQuarterMs, cost } of events) {
    now += dtQuarterMs / 4;
    check(state, now, cost);
    const outcome = decide(params, { state, nowMs: now, cost, maxWaitMs: 0 });
    if (outcome.allowed) state = outcome.state;
  }
}

describe("every rate algorithm", () => {
  it("denied calls return the very state they were given", () => {
    fc.assert(
      fc.property(paramsArb, calls, (params, events) => {
        replay(params, events, (state, nowMs, cost) => {
          const outcome = decide(params, { state, nowMs, cost, maxWaitMs: 0 });
          if (!outcome.allowed) expect(outcome.state).toBe(state);
        });
      }),
    );
  });

  it("reports sane numbers: remaining within [0, limit], times non-negative, no wait without a budget", () => {
    fc.assert(
      fc.property(paramsArb, calls, (params, events) => {
        replay(params, events, (state, nowMs, cost) => {
          const o = decide(params, { state, nowMs, cost, maxWaitMs: 0 });
          expect(Number.isInteger(o.remaining)).toBe(true);
          expect(o.remaining).toBeGreaterThanOrEqual(0);
          expect(o.remaining).toBeLessThanOrEqual(o.limit);
          expect(o.resetAfterMs).toBeGreaterThanOrEqual(0);
          expect(o.ttlMs).toBeGreaterThanOrEqual(0);
          expect(o.waitMs).toBe(0);
          expect(o.retryAfterMs).toBe(o.allowed ? 0 : o.retryAfterMs);
          if (!o.allowed) expect(o.retryAfterMs).toBeGreaterThan(0);
          if (o.allowed) expect(o.ttlMs).toBeGreaterThan(0);
        });
      }),
    );
  });

  it("peek consumes nothing and agrees with decide (except leaky buckets, which admit only an empty queue)", () => {
    fc.assert(
      fc.property(paramsArb, calls, (params, events) => {
        replay(params, events, (state, nowMs, cost) => {
          const before = peek(params, state, nowMs);
          expect(peek(params, state, nowMs)).toEqual(before);
          if (params.kind === "leaky_bucket") return;
          const o = decide(params, { state, nowMs, cost, maxWaitMs: 0 });
          expect(o.allowed).toBe(before.remaining >= cost);
        });
      }),
    );
  });

  it("a denied call is allowed once its retry hint has passed, and not a millisecond before", () => {
    fc.assert(
      fc.property(paramsArb, calls, (params, events) => {
        replay(params, events, (state, nowMs, cost) => {
          // Leaky buckets: the hint is the time until the call fits in the queue (it then waits its turn).
          const maxWaitMs = params.kind === "leaky_bucket" ? Number.POSITIVE_INFINITY : 0;
          const o = decide(params, { state, nowMs, cost, maxWaitMs });
          if (o.allowed || !Number.isFinite(o.retryAfterMs)) return;
          const later = decide(params, { state, nowMs: nowMs + o.retryAfterMs, cost, maxWaitMs });
          expect(later.allowed).toBe(true);
          // The counter compares counts with an epsilon, which is worth up to W * EPS ms of time.
          const earlyMs = params.kind === "sliding_window_counter" ? 1 + params.windowMs * 2e-3 : 1;
          if (o.retryAfterMs > earlyMs) {
            const early = decide(params, { state, nowMs: nowMs + o.retryAfterMs - earlyMs, cost, maxWaitMs });
            expect(early.allowed).toBe(false);
          }
        });
      }),
    );
  });

  it("a cost above the capacity is denied with retryAfterMs = Infinity", () => {
    fc.assert(
      fc.property(paramsArb, calls, (params, events) => {
        replay(params, events, (state, nowMs) => {
          const over = decide(params, {
            state,
            nowMs,
            cost: peek(params, state, nowMs).limit + 1,
            maxWaitMs: 1e9,
          });
          expect(over.allowed).toBe(false);
          expect(over.retryAfterMs).toBe(Number.POSITIVE_INFINITY);
          expect(over.state).toBe(state);
        });
      }),
    );
  });

  it("refunding an allowed call at the same instant restores what peek reported", () => {
    fc.assert(
      fc.property(paramsArb, calls, (params, events) => {
        replay(params, events, (state, nowMs, cost) => {
          const before = peek(params, state, nowMs);
          const o = decide(params, { state, nowMs, cost, maxWaitMs: 0 });
          if (!o.allowed) return;
          const back = refund(params, o.state, nowMs, cost);
          expect(peek(params, back.state, nowMs).remaining).toBe(before.remaining);
        });
      }),
    );
  });
});
