import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decideFixedWindow,
  peekFixedWindow,
  refundFixedWindow,
} from "../../src/algorithms/fixed-window/index.ts";
import type { FixedWindowState, WindowParams } from "../../src/algorithms/types.ts";
import { admitted, perAlignedWindow, windowCalls } from "./windows.property.ts";

const params: WindowParams = { kind: "fixed_window", limit: 3, windowMs: 1000 };
const at = (nowMs: number, state: FixedWindowState | undefined, cost = 1) =>
  decideFixedWindow(params, { state, nowMs, cost, maxWaitMs: 0 });

describe("fixed window", () => {
  it("admits L per epoch-aligned window, then denies until the window ends", () => {
    const a = at(5250, undefined);
    expect(a).toEqual({
      allowed: true,
      limit: 3,
      remaining: 2,
      resetAfterMs: 750,
      retryAfterMs: 0,
      waitMs: 0,
      state: { windowStart: 5000, count: 1 },
      ttlMs: 750,
    });
    const full = { windowStart: 5000, count: 3 };
    expect(at(5999.5, full)).toEqual({
      allowed: false,
      limit: 3,
      remaining: 0,
      resetAfterMs: 0.5,
      retryAfterMs: 0.5,
      waitMs: 0,
      state: full,
      ttlMs: 0.5,
    });
    // The boundary belongs to the next window.
    expect(at(6000, full)).toMatchObject({
      allowed: true,
      remaining: 2,
      state: { windowStart: 6000, count: 1 },
    });
  });

  it("cost > 1, cost above L, denied calls keep the state", () => {
    const s = at(0, undefined, 2).state;
    expect(s).toEqual({ windowStart: 0, count: 2 });
    expect(at(10, s, 2)).toMatchObject({ allowed: false, remaining: 1, retryAfterMs: 990, state: s });
    expect(at(10, s, 1)).toMatchObject({ allowed: true, remaining: 0 });
    expect(at(10, undefined, 4)).toMatchObject({
      allowed: false,
      retryAfterMs: Number.POSITIVE_INFINITY,
      remaining: 3,
      resetAfterMs: 0,
    });
  });

  it("peek and refund only see the current window", () => {
    const s = { windowStart: 0, count: 2 };
    expect(peekFixedWindow(params, s, 400)).toEqual({ limit: 3, remaining: 1, resetAfterMs: 600 });
    expect(peekFixedWindow(params, s, 1400)).toEqual({ limit: 3, remaining: 3, resetAfterMs: 0 });
    expect(refundFixedWindow(params, s, 400, 1)).toEqual({ state: { windowStart: 0, count: 1 }, ttlMs: 600 });
    expect(refundFixedWindow(params, s, 1400, 1)).toEqual({ state: undefined, ttlMs: 0 });
  });

  it("never admits more than L in an aligned window, and admits exactly L when demand is there", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 10, max: 2000 }),
        windowCalls,
        (limit, windowMs, calls) => {
          const p: WindowParams = { kind: "fixed_window", limit, windowMs };
          for (const sum of perAlignedWindow(admitted(p, calls), windowMs).values()) {
            expect(sum).toBeLessThanOrEqual(limit);
          }
          // Unit calls at one instant: exactly L pass.
          const burst = admitted(p, new Array(limit + 3).fill({ dt: 0, cost: 1 }), 1_700_000_000_000);
          expect(burst).toHaveLength(limit);
        },
      ),
    );
  });
});
