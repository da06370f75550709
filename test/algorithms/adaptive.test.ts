import { describe, expect, it } from "vitest";
import { capAt, decideAdaptive, peekAdaptive, refundAdaptive } from "../../src/algorithms/adaptive/index.ts";
import type { AdaptiveParams, AdaptiveState } from "../../src/algorithms/types.ts";

const params: AdaptiveParams = {
  kind: "adaptive",
  limit: 10,
  windowMs: 1000,
  burstMultiplier: 3,
  adaptiveWindowMs: 5000,
  highLoad: 0.8,
  lowLoad: 0.4,
  penalty: 0.5,
};

describe("adaptive hybrid math", () => {
  it("cap: largest up to low, lowest from high, linear between, floored", () => {
    expect(capAt(params, 0)).toBe(30);
    expect(capAt(params, 0.4)).toBe(30);
    expect(capAt(params, 0.6)).toBe(22); // 30 - 15 * 0.5 = 22.5
    expect(capAt(params, 0.8)).toBe(15);
    expect(capAt(params, 2)).toBe(15);
    expect(capAt({ ...params, penalty: 1 }, 1)).toBe(10); // never below limit
  });

  it("a quiet key bursts up to the largest cap, and the window guard holds it there", () => {
    let state: AdaptiveState | undefined;
    let allowed = 0;
    for (let i = 0; i < 40; i++) {
      const o = decideAdaptive(params, { state, nowMs: 0, cost: 1, maxWaitMs: 0 });
      if (o.allowed) allowed += 1;
      state = o.state;
    }
    expect(allowed).toBe(30);
    // Refilled bucket later in the same window: the guard still says no (30 already in this window).
    const later = decideAdaptive(params, { state, nowMs: 999, cost: 1, maxWaitMs: 0 });
    expect(later.allowed).toBe(false);
    expect(later.retryAfterMs).toBeCloseTo(1, 6);
  });

  it("a cost above the largest cap never passes; above the current cap it waits for the window's end", () => {
    expect(decideAdaptive(params, { state: undefined, nowMs: 0, cost: 31, maxWaitMs: 0 }).retryAfterMs).toBe(
      Number.POSITIVE_INFINITY,
    );
    const loaded: AdaptiveState = { tat: 0, windowStart: 0, used: 0, load: 9 };
    const o = decideAdaptive(params, { state: loaded, nowMs: 0, cost: 20, maxWaitMs: 0 });
    expect(o.limit).toBe(15);
    expect(o.allowed).toBe(false);
    expect(o.retryAfterMs).toBe(1000);
  });

  it("a steady client at 90% of the base rate sees its cap fall; a quiet period restores it", () => {
    // 9 calls per 1 s window, evenly spaced, for 30 windows: the load settles at 0.9 ≥ high.
    let state: AdaptiveState | undefined;
    const caps: number[] = [];
    for (let window = 0; window < 30; window++) {
      for (let i = 0; i < 9; i++) {
        const o = decideAdaptive(params, { state, nowMs: window * 1000 + i * 111, cost: 1, maxWaitMs: 0 });
        expect(o.allowed).toBe(true);
        state = o.state;
        if (i === 0) caps.push(o.limit);
      }
    }
    expect(caps[0]).toBe(30);
    expect(caps.at(-1)).toBe(15);
    for (let i = 1; i < caps.length; i++) expect(caps[i]).toBeLessThanOrEqual(caps[i - 1] as number);
    // After 30 quiet windows (6 × adaptive_window) the load is under 0.4 again: the cap is back at 30.
    const quiet = peekAdaptive(params, state, 60_000);
    expect(quiet.limit).toBe(30);
    const burst = decideAdaptive(params, { state, nowMs: 60_000, cost: 30, maxWaitMs: 0 });
    expect(burst.allowed).toBe(true);
  });

  it("a charge (negative cost) puts the bucket in debt and counts in the window, then in the load", () => {
    // Empty: from now and the current window. T = 100 ms; cap 30 at no load.
    const charged = refundAdaptive(params, undefined, 250, -40);
    expect(charged.state).toEqual({ tat: 4250, windowStart: 0, used: 40, load: 0 });
    // It lives until the load is forgotten: 50 idle windows after the next one.
    expect(charged.ttlMs).toBe(51_000 - 250);
    const denied = decideAdaptive(params, { state: charged.state, nowMs: 300, cost: 1, maxWaitMs: 0 });
    expect(denied.allowed).toBe(false);
    // The bucket owes 10 units: 4250 + 100 - 3000 (cap 30 × T) - 300, after the window (full) ends at 1000.
    expect(denied.retryAfterMs).toBe(1050);
    // An earlier window rolls forward first: its units go into the load (weight 1/5), as a decision does.
    const later = refundAdaptive(params, charged.state, 1500, -1).state;
    expect(later).toEqual({ tat: 4350, windowStart: 1000, used: 1, load: 8 });
  });

  it("refund gives back the bucket and the current window's units", () => {
    const first = decideAdaptive(params, { state: undefined, nowMs: 0, cost: 30, maxWaitMs: 0 });
    const back = refundAdaptive(params, first.state, 0, 10);
    expect(back.state?.used).toBe(20);
    const again = decideAdaptive(params, { state: back.state, nowMs: 0, cost: 10, maxWaitMs: 0 });
    expect(again.allowed).toBe(true);
  });
});
