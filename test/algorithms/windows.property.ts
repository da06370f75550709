/**
 * Shared generator for window-algorithm invariants: replays random calls and returns the admitted ones.
 */
import fc from "fast-check";
import { decide } from "../../src/algorithms/index.ts";
import type { WindowParams } from "../../src/algorithms/types.ts";

/** Random calls: time steps (fractions included) and integer costs. */
export const windowCalls = fc.array(
  fc.record({ dt: fc.double({ min: 0, max: 700, noNaN: true }), cost: fc.integer({ min: 1, max: 3 }) }),
  { maxLength: 80 },
);

/** Replays `calls` from an unaligned start and returns the admitted `[time, cost]` pairs. */
export function admitted(
  params: WindowParams,
  calls: readonly { dt: number; cost: number }[],
  startMs = 1_700_000_000_123.25,
): Array<[number, number]> {
  let now = startMs;
  let state: unknown;
  const out: Array<[number, number]> = [];
  for (const { dt, cost } of calls) {
    now += dt;
    const o = decide(params, { state, nowMs: now, cost, maxWaitMs: 0 });
    if (o.allowed) {
      state = o.state;
      out.push([now, cost]);
    }
  }
  return out;
}

/** Units admitted per epoch-aligned window. */
export function perAlignedWindow(calls: readonly [number, number][], windowMs: number): Map<number, number> {
  const sums = new Map<number, number>();
  for (const [t, c] of calls) {
    const ws = Math.floor(t / windowMs) * windowMs;
    sums.set(ws, (sums.get(ws) ?? 0) + c);
  }
  return sums;
}
