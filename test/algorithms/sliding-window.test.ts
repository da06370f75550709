import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decideSlidingWindow,
  peekSlidingWindow,
  refundSlidingWindow,
} from "../../src/algorithms/sliding-window/index.ts";
import type { SlidingLogState, WindowParams } from "../../src/algorithms/types.ts";
import { admitted, windowCalls } from "./windows.property.ts";

const params: WindowParams = { kind: "sliding_window", limit: 3, windowMs: 1000 };
const at = (nowMs: number, state: SlidingLogState | undefined, cost = 1) =>
  decideSlidingWindow(params, { state, nowMs, cost, maxWaitMs: 0 });

describe("sliding window log", () => {
  it("counts an entry while now - t < W and retries when the oldest needed entry leaves", () => {
    const log = { entries: [100, 1, 400, 1, 700, 1] };
    expect(at(1000, log)).toEqual({
      allowed: false,
      limit: 3,
      remaining: 0,
      resetAfterMs: 700,
      retryAfterMs: 100,
      waitMs: 0,
      state: log,
      ttlMs: 700,
    });
    // At 1100 the entry at 100 is out (1100 - 100 = W).
    expect(at(1100, log)).toEqual({
      allowed: true,
      limit: 3,
      remaining: 0,
      resetAfterMs: 1000,
      retryAfterMs: 0,
      waitMs: 0,
      state: { entries: [400, 1, 700, 1, 1100, 1] },
      ttlMs: 1000,
    });
    // cost 2 needs two entries gone: the second one leaves at 1400.
    expect(at(1000, log, 2)).toMatchObject({ allowed: false, retryAfterMs: 400 });
    expect(at(1000, log, 4)).toMatchObject({ allowed: false, retryAfterMs: Number.POSITIVE_INFINITY });
  });

  it("keeps the log sorted when the clock steps back", () => {
    const o = at(500, { entries: [600, 1] });
    expect(o.state).toEqual({ entries: [600, 1, 600, 1] });
  });

  it("peek and refund", () => {
    const log = { entries: [100, 1, 400, 2] };
    expect(peekSlidingWindow(params, log, 500)).toEqual({ limit: 3, remaining: 0, resetAfterMs: 900 });
    expect(peekSlidingWindow(params, log, 1200)).toEqual({ limit: 3, remaining: 1, resetAfterMs: 200 });
    expect(refundSlidingWindow(params, log, 500, 1)).toEqual({ state: { entries: [400, 2] }, ttlMs: 900 });
    expect(refundSlidingWindow(params, log, 500, 2)).toEqual({ state: { entries: [100, 1] }, ttlMs: 600 });
    expect(refundSlidingWindow(params, { entries: [100, 3] }, 500, 1)).toEqual({
      state: { entries: [100, 2] },
      ttlMs: 600,
    });
  });

  it("a charge (negative cost) logs the units at now, in one entry per ms, and denies while in debt", () => {
    // Empty: one entry at now; the state lives one window.
    expect(refundSlidingWindow(params, undefined, 500, -5)).toEqual({
      state: { entries: [500, 5] },
      ttlMs: 1000,
    });
    // Expired entries dropped; a newest entry at now (or later: the clock stepped back) takes the units.
    expect(refundSlidingWindow(params, { entries: [100, 1, 1500, 1] }, 1500, -2)).toEqual({
      state: { entries: [1500, 3] },
      ttlMs: 1000,
    });
    expect(refundSlidingWindow(params, { entries: [600, 1] }, 500, -2)).toEqual({
      state: { entries: [600, 3] },
      ttlMs: 1100,
    });
    const debt = refundSlidingWindow(params, { entries: [100, 2] }, 400, -4).state;
    expect(debt).toEqual({ entries: [100, 2, 400, 4] });
    // 6 of 3: room for one call once both entries have left (the charged one at 1400).
    const denied = at(500, debt);
    expect(denied.allowed).toBe(false);
    expect(denied.remaining).toBe(0);
    expect(denied.retryAfterMs).toBe(900);
    expect(at(1400, debt).allowed).toBe(true);
  });

  it("never admits more than L in any interval of length W", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 10, max: 2000 }),
        windowCalls,
        (limit, windowMs, calls) => {
          const got = admitted({ kind: "sliding_window", limit, windowMs }, calls);
          // The worst interval ending at an admitted call: every admission t with t_j - t < W.
          for (let j = 0; j < got.length; j++) {
            const tj = (got[j] as [number, number])[0];
            let units = 0;
            for (let i = j; i >= 0 && tj - (got[i] as [number, number])[0] < windowMs; i--) {
              units += (got[i] as [number, number])[1];
            }
            expect(units).toBeLessThanOrEqual(limit);
          }
        },
      ),
    );
  });
});
