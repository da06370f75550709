import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decideSlidingWindowCounter,
  peekSlidingWindowCounter,
  refundSlidingWindowCounter,
} from "../../src/algorithms/sliding-window-counter/index.ts";
import type { SlidingCounterState, WindowParams } from "../../src/algorithms/types.ts";
import { admitted, perAlignedWindow, windowCalls } from "./windows.property.ts";

const params: WindowParams = { kind: "sliding_window_counter", limit: 10, windowMs: 1000 };
const at = (nowMs: number, state: SlidingCounterState | undefined, cost = 1) =>
  decideSlidingWindowCounter(params, { state, nowMs, cost, maxWaitMs: 0 });

describe("sliding window counter", () => {
  it("weights the previous window by what is left of it", () => {
    const s = { windowStart: 0, current: 10, previous: 0 };
    // At 1500: weighted = 10 * 0.5 + 0 = 5.
    expect(at(1500, s)).toEqual({
      allowed: true,
      limit: 10,
      remaining: 4,
      resetAfterMs: 1500,
      retryAfterMs: 0,
      waitMs: 0,
      state: { windowStart: 1000, current: 1, previous: 10 },
      ttlMs: 1500,
    });
    // At 1050: weighted = 9.5, +1 > 10; fits once 10 * (1 - e/W) <= 9, at e = 100.
    expect(at(1050, s)).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 50, resetAfterMs: 950 });
    expect(at(1100, s).allowed).toBe(true);
    // Two windows later nothing is left.
    expect(at(2000, s)).toMatchObject({
      allowed: true,
      remaining: 9,
      state: { windowStart: 2000, current: 1, previous: 0 },
    });
  });

  it("a full current window retries in the next one, once its count has faded enough", () => {
    const s = { windowStart: 0, current: 10, previous: 0 };
    // Next window at 1000: previous = 10, must fall to 9: e = W * (1 - 9/10) = 100 → retry at 1100.
    expect(at(500, s)).toMatchObject({ allowed: false, retryAfterMs: 600, remaining: 0, resetAfterMs: 1500 });
    expect(at(500, s, 3)).toMatchObject({ allowed: false, retryAfterMs: 800 });
    expect(at(1299, s, 3).allowed).toBe(false);
    expect(at(1300, s, 3).allowed).toBe(true);
  });

  it("never admits more than L in the current fixed window, even when the previous one was empty", () => {
    const s = { windowStart: 0, current: 9, previous: 0 };
    expect(at(999, s, 2)).toMatchObject({ allowed: false });
    expect(at(999, undefined, 11)).toMatchObject({ allowed: false, retryAfterMs: Number.POSITIVE_INFINITY });
  });

  it("peek and refund", () => {
    const s = { windowStart: 1000, current: 2, previous: 4 };
    expect(peekSlidingWindowCounter(params, s, 1250)).toEqual({
      limit: 10,
      remaining: 5,
      resetAfterMs: 1750,
    });
    expect(refundSlidingWindowCounter(params, s, 1250, 1)).toEqual({
      state: { windowStart: 1000, current: 1, previous: 4 },
      ttlMs: 1750,
    });
    // Counted in the previous window: kept as it is.
    expect(refundSlidingWindowCounter(params, s, 2250, 1)).toEqual({ state: s, ttlMs: 750 });
    expect(refundSlidingWindowCounter(params, s, 3250, 1)).toEqual({ state: undefined, ttlMs: 0 });
  });

  it("never admits more than L in one aligned window", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 10, max: 2000 }),
        windowCalls,
        (limit, windowMs, calls) => {
          const got = admitted({ kind: "sliding_window_counter", limit, windowMs }, calls);
          for (const sum of perAlignedWindow(got, windowMs).values()) expect(sum).toBeLessThanOrEqual(limit);
        },
      ),
    );
  });
});
