import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decideTokenBucket,
  peekTokenBucket,
  refundTokenBucket,
} from "../../src/algorithms/token-bucket/index.ts";
import type { GcraState, TokenBucketParams } from "../../src/algorithms/types.ts";

const params: TokenBucketParams = { kind: "token_bucket", intervalMs: 100, burst: 3 };
const at = (nowMs: number, state: GcraState | undefined, cost = 1, maxWaitMs = 0) =>
  decideTokenBucket(params, { state, nowMs, cost, maxWaitMs });

describe("token bucket (GCRA)", () => {
  it("admits a burst of B at one instant, then denies until one interval has passed", () => {
    const a = at(1000, undefined);
    expect(a).toEqual({
      allowed: true,
      limit: 3,
      remaining: 2,
      resetAfterMs: 100,
      retryAfterMs: 0,
      waitMs: 0,
      state: { tat: 1100 },
      ttlMs: 100,
    });
    const b = at(1000, a.state);
    const c = at(1000, b.state);
    expect([b.remaining, c.remaining]).toEqual([1, 0]);
    expect(c.state).toEqual({ tat: 1300 });
    const d = at(1000, c.state);
    expect(d).toEqual({
      allowed: false,
      limit: 3,
      remaining: 0,
      resetAfterMs: 300,
      retryAfterMs: 100,
      waitMs: 0,
      state: c.state,
      ttlMs: 300,
    });
    expect(at(1099, c.state).allowed).toBe(false);
    expect(at(1100, c.state).allowed).toBe(true);
  });

  it("refills continuously: after idle the bucket is full, never more than full", () => {
    expect(at(10_000, { tat: 1300 }).remaining).toBe(2);
    expect(peekTokenBucket(params, { tat: 1300 }, 1150)).toEqual({
      limit: 3,
      remaining: 1,
      resetAfterMs: 150,
    });
    expect(peekTokenBucket(params, { tat: 1300 }, 5000)).toEqual({ limit: 3, remaining: 3, resetAfterMs: 0 });
  });

  it("cost > 1 takes that many tokens, fractional costs included", () => {
    const a = at(0, undefined, 2);
    expect(a.remaining).toBe(1);
    expect(at(0, a.state, 2)).toMatchObject({ allowed: false, retryAfterMs: 100, remaining: 1 });
    const half = at(0, undefined, 0.5);
    expect(half.state).toEqual({ tat: 50 });
    expect(half.remaining).toBe(2);
  });

  it("a cost above the burst is denied with Infinity even with a wait budget", () => {
    expect(at(0, { tat: 100 }, 4, 1e9)).toMatchObject({
      allowed: false,
      retryAfterMs: Number.POSITIVE_INFINITY,
      remaining: 2,
      resetAfterMs: 100,
      state: { tat: 100 },
    });
  });

  it("reserves within the wait budget: the slot is taken, remaining is 0", () => {
    const full = { tat: 300 };
    const r = at(0, full, 1, 250);
    expect(r).toMatchObject({
      allowed: true,
      waitMs: 100,
      remaining: 0,
      state: { tat: 400 },
      resetAfterMs: 400,
    });
    const r2 = at(0, r.state, 1, 250);
    expect(r2).toMatchObject({ allowed: true, waitMs: 200, state: { tat: 500 } });
    expect(at(0, r2.state, 1, 250)).toMatchObject({ allowed: false, retryAfterMs: 300, state: { tat: 500 } });
  });

  it("absorbs float rounding: B calls at one epoch instant are all allowed", () => {
    const p: TokenBucketParams = { kind: "token_bucket", intervalMs: 1000 / 3, burst: 3 };
    let state: GcraState | undefined;
    const now = 1_700_000_000_123.456;
    for (let i = 0; i < 3; i++) {
      const o = decideTokenBucket(p, { state, nowMs: now, cost: 1, maxWaitMs: 0 });
      expect(o.allowed).toBe(true);
      state = o.state;
    }
  });

  it("refund gives tokens back, not below now", () => {
    expect(refundTokenBucket(params, { tat: 1300 }, 1000, 1)).toEqual({ state: { tat: 1200 }, ttlMs: 200 });
    expect(refundTokenBucket(params, { tat: 1100 }, 1050, 1)).toEqual({ state: undefined, ttlMs: 0 });
    expect(refundTokenBucket(params, undefined, 1050, 1)).toEqual({ state: undefined, ttlMs: 0 });
  });

  it("never admits more than B + t/T units over any interval of length t", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(
          fc.record({
            dt: fc.double({ min: 0, max: 400, noNaN: true }),
            cost: fc.integer({ min: 1, max: 3 }),
          }),
          {
            maxLength: 80,
          },
        ),
        (intervalMs, burst, calls) => {
          const p: TokenBucketParams = { kind: "token_bucket", intervalMs, burst };
          let now = 1_700_000_000_000;
          let state: GcraState | undefined;
          const admitted: Array<[number, number]> = [];
          for (const { dt, cost } of calls) {
            now += dt;
            const o = decideTokenBucket(p, { state, nowMs: now, cost, maxWaitMs: 0 });
            if (o.allowed) {
              state = o.state;
              admitted.push([now, cost]);
            }
          }
          for (let i = 0; i < admitted.length; i++) {
            let units = 0;
            for (let j = i; j < admitted.length; j++) {
              const [tj, cj] = admitted[j] as [number, number];
              units += cj;
              const t = tj - (admitted[i] as [number, number])[0];
              expect(units).toBeLessThanOrEqual(burst + t / intervalMs + 1e-6);
            }
          }
        },
      ),
    );
  });
});
