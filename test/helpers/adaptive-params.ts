/**
 * @module
 * Random adaptive hybrid params for the reference-model tests: short windows (so calls a few ms apart cross
 * them and the load is folded and decayed), a load span from shorter than a window to many windows, and
 * fractional multipliers, thresholds and penalties (the cap is interpolated and floored).
 */

import fc from "fast-check";
import type { AdaptiveParams } from "../../src/algorithms/types.ts";

/** Adaptive params with `limit` in `[1, maxLimit]` and `window` in 20–120 ms. */
export function adaptiveParamsArb(maxLimit = 5): fc.Arbitrary<AdaptiveParams> {
  return fc
    .record({
      limit: fc.integer({ min: 1, max: maxLimit }),
      windowMs: fc.integer({ min: 20, max: 120 }),
      adaptiveWindowMs: fc.integer({ min: 10, max: 600 }),
      multiplierTenths: fc.integer({ min: 10, max: 35 }),
      lowTenths: fc.integer({ min: 0, max: 6 }),
      gapTenths: fc.integer({ min: 1, max: 6 }),
      penaltyTenths: fc.integer({ min: 0, max: 10 }),
    })
    .map((r) => ({
      kind: "adaptive" as const,
      limit: r.limit,
      windowMs: r.windowMs,
      burstMultiplier: r.multiplierTenths / 10,
      adaptiveWindowMs: r.adaptiveWindowMs,
      lowLoad: r.lowTenths / 10,
      highLoad: (r.lowTenths + r.gapTenths) / 10,
      penalty: r.penaltyTenths / 10,
    }));
}
