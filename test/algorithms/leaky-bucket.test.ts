import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decideLeakyBucket,
  peekLeakyBucket,
  refundLeakyBucket,
} from "../../src/algorithms/leaky-bucket/index.ts";
import type { GcraState, LeakyBucketParams } from "../../src/algorithms/types.ts";

const params: LeakyBucketParams = { kind: "leaky_bucket", intervalMs: 100, burst: 3 };
const at = (nowMs: number, state: GcraState | undefined, cost = 1, maxWaitMs = 0) =>
  decideLeakyBucket(params, { state, nowMs, cost, maxWaitMs });

describe("leaky bucket (shaping)", () => {
  it("without a wait budget admits only when no one is queued: a strict rate", () => {
    const a = at(0, undefined);
    expect(a).toEqual({
      allowed: true,
      limit: 3,
      remaining: 2,
      resetAfterMs: 100,
      retryAfterMs: 0,
      waitMs: 0,
      state: { tat: 100 },
      ttlMs: 100,
    });
    expect(at(50, a.state)).toMatchObject({ allowed: false, retryAfterMs: 50, remaining: 2, state: a.state });
    expect(at(100, a.state).allowed).toBe(true);
  });

  it("with a wait budget queues calls one interval apart, up to B units", () => {
    const waits: number[] = [];
    let state: GcraState | undefined;
    for (let i = 0; i < 3; i++) {
      const o = at(0, state, 1, 1000);
      expect(o.allowed).toBe(true);
      waits.push(o.waitMs);
      state = o.state;
    }
    expect(waits).toEqual([0, 100, 200]);
    expect(state).toEqual({ tat: 300 });
    // Full: the call fits once one unit has drained.
    expect(at(0, state, 1, 1000)).toMatchObject({ allowed: false, retryAfterMs: 100, remaining: 0 });
    expect(at(100, state, 1, 1000)).toMatchObject({ allowed: true, waitMs: 200, state: { tat: 400 } });
    // Room, but the slot is later than the budget: retry when it is free.
    expect(at(0, { tat: 200 }, 1, 150)).toMatchObject({ allowed: false, retryAfterMs: 200 });
    // Full, and the caller cannot wait (tryAcquire): it could pass at once only when the queue is empty, so
    // that is its hint — not the 100 ms after which a waiting caller could reserve.
    expect(at(0, state, 1, 0)).toMatchObject({ allowed: false, retryAfterMs: 300 });
    expect(at(300, state, 1, 0)).toMatchObject({ allowed: true, waitMs: 0 });
  });

  it("cost > 1 occupies cost intervals; a cost above B is denied with Infinity", () => {
    expect(at(0, undefined, 2)).toMatchObject({ allowed: true, remaining: 1, state: { tat: 200 } });
    expect(at(0, { tat: 100 }, 3, 1000)).toMatchObject({ allowed: false, retryAfterMs: 100 });
    expect(at(0, undefined, 4, 1e9)).toMatchObject({
      allowed: false,
      retryAfterMs: Number.POSITIVE_INFINITY,
    });
  });

  it("peek and refund", () => {
    expect(peekLeakyBucket(params, { tat: 250 }, 50)).toEqual({ limit: 3, remaining: 1, resetAfterMs: 200 });
    expect(refundLeakyBucket(params, { tat: 300 }, 0, 1)).toEqual({ state: { tat: 200 }, ttlMs: 200 });
  });

  it("departures (now + waitMs) are spaced by at least cost * T, and never more than B units are queued", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(
          fc.record({
            dt: fc.double({ min: 0, max: 400, noNaN: true }),
            cost: fc.integer({ min: 1, max: 3 }),
            maxWaitMs: fc.constantFrom(0, 100, 1000, 1e9),
          }),
          { maxLength: 80 },
        ),
        (intervalMs, burst, calls) => {
          const p: LeakyBucketParams = { kind: "leaky_bucket", intervalMs, burst };
          let now = 1_700_000_000_000;
          let state: GcraState | undefined;
          let lastEnd = Number.NEGATIVE_INFINITY;
          for (const { dt, cost, maxWaitMs } of calls) {
            now += dt;
            const o = decideLeakyBucket(p, { state, nowMs: now, cost, maxWaitMs });
            if (!o.allowed) continue;
            const departure = now + o.waitMs;
            expect(departure).toBeGreaterThanOrEqual(lastEnd - 1e-3);
            expect(o.waitMs).toBeLessThanOrEqual(maxWaitMs);
            lastEnd = Math.max(departure, lastEnd) + cost * intervalMs;
            expect(lastEnd - now).toBeLessThanOrEqual(burst * intervalMs + 1e-3);
            state = o.state;
          }
        },
      ),
    );
  });
});
