/**
 * @module
 * Helpers shared by every algorithm: the `remaining` rounding rule, epoch-aligned windows, capacity, and peek
 * derived from decide.
 */

import type { BucketShape, DecideInput, Outcome, PeekOutcome, WindowShape } from "./types.ts";
import { TIME_EPSILON_MS } from "./types.ts";

/** What a refund leaves behind: the state to store (or none) and how long it still constrains. */
export interface RefundOutcome<S> {
  /** The state to store; `undefined` when nothing is left to remember. */
  readonly state: S | undefined;
  /** Milliseconds after which `state` no longer constrains anything (0 when `state` is undefined). */
  readonly ttlMs: number;
}

/**
 * The `remaining` rule of every algorithm: `max(0, floor(x + EPS))`. The epsilon keeps a value such as
 * `2.9999999997` (float rounding of epoch milliseconds) from being reported as 2.
 */
export function remainingUnits(x: number): number {
  const floored = Math.floor(x + TIME_EPSILON_MS);
  return Math.max(floored, 0);
}

/**
 * Start of the window containing `nowMs`: a multiple of `windowMs` since the Unix epoch, so every key resets
 * at the same instants (SPEC §2.5).
 */
export function windowStartOf(nowMs: number, windowMs: number): number {
  return Math.floor(nowMs / windowMs) * windowMs;
}

/**
 * The capacity of a rate algorithm: `burst`, `limit`, or for the adaptive hybrid its largest burst cap
 * (`floor(burst_multiplier × limit)`: a cost within it may pass once the load falls).
 */
export function capacityOf(params: BucketShape | WindowShape): number {
  if ("burst" in params) return params.burst;
  if ("burstMultiplier" in params && typeof params.burstMultiplier === "number") {
    return Math.floor(params.burstMultiplier * params.limit + TIME_EPSILON_MS);
  }
  return params.limit;
}

/**
 * The cost a store is asked to decide: the call's own, or `capacity + 1` when it is above the capacity. Every
 * algorithm denies a cost above its capacity with `retryAfterMs = Infinity` and reports the same state whatever
 * the cost's size, so the decision is unchanged — and a cost such as `1e308` never reaches a store's arithmetic,
 * where PostgreSQL would raise an overflow error (`cost × interval`) that JavaScript and Lua pass as `Infinity`.
 *
 * @example storeCost({ kind: "token_bucket", intervalMs: 100, burst: 10 }, 1e308) // 11
 */
export function storeCost(params: BucketShape | WindowShape, cost: number): number {
  const capacity = capacityOf(params);
  return cost > capacity ? capacity + 1 : cost;
}

/**
 * Peek, derived from decide (the one way every store peeks): a call costing `Infinity` is denied by every
 * algorithm, and a denial reports the state as it stands and consumes nothing.
 *
 * @example const peekFixedWindow = peekOf(decideFixedWindow);
 */
export function peekOf<P, S>(
  decide: (params: P, input: DecideInput<S>) => Outcome<S>,
): (params: P, state: S | undefined, nowMs: number) => PeekOutcome {
  return (params, state, nowMs) => {
    const probe = decide(params, { state, nowMs, cost: Number.POSITIVE_INFINITY, maxWaitMs: 0 });
    return { limit: probe.limit, remaining: probe.remaining, resetAfterMs: probe.resetAfterMs };
  };
}
