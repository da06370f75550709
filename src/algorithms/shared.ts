/**
 * @module
 * Helpers shared by several algorithms: the `remaining` rounding rule, epoch-aligned windows, and the GCRA
 * core (peek and refund) that token and leaky buckets have in common. Kept here so the two buckets and the two
 * window algorithms cannot drift apart.
 */

import { type GcraState, type PeekOutcome, type RateParams, TIME_EPSILON_MS } from "./types.ts";

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

/** The capacity a rate algorithm reports as `limit`. */
export function capacityOf(params: RateParams): number {
  return params.kind === "token_bucket" || params.kind === "leaky_bucket" ? params.burst : params.limit;
}

/**
 * The cost a store is asked to decide: the call's own, or `capacity + 1` when it is above the capacity. Every
 * algorithm denies a cost above its capacity with `retryAfterMs = Infinity` and reports the same state whatever
 * the cost's size, so the decision is unchanged — and a cost such as `1e308` never reaches a store's arithmetic,
 * where PostgreSQL would raise an overflow error (`cost × interval`) that JavaScript and Lua pass as `Infinity`.
 *
 * @example storeCost({ kind: "token_bucket", intervalMs: 100, burst: 10 }, 1e308) // 11
 */
export function storeCost(params: RateParams, cost: number): number {
  const capacity = capacityOf(params);
  return cost > capacity ? capacity + 1 : cost;
}

/**
 * GCRA state as of now, consuming nothing: both buckets report the units not yet spoken for and the time until
 * the bucket is full (token bucket) or the queue is empty (leaky bucket) — the same expression.
 */
export function peekGcra(
  intervalMs: number,
  burst: number,
  state: GcraState | undefined,
  nowMs: number,
): PeekOutcome {
  const tat = state !== undefined && state.tat > nowMs ? state.tat : nowMs;
  const busyMs = tat - nowMs;
  return {
    limit: burst,
    remaining: remainingUnits((burst * intervalMs - busyMs) / intervalMs),
    resetAfterMs: busyMs,
  };
}

/**
 * Gives back `cost` units of an allowed GCRA call: `tat -= cost * T`, never below now (the past cannot be
 * un-spent). The state is dropped when nothing is left ahead of now.
 */
export function refundGcra(
  intervalMs: number,
  state: GcraState | undefined,
  nowMs: number,
  cost: number,
): RefundOutcome<GcraState> {
  if (state === undefined) return { state: undefined, ttlMs: 0 };
  const tat = state.tat - cost * intervalMs;
  if (tat <= nowMs) return { state: undefined, ttlMs: 0 };
  return { state: { tat }, ttlMs: tat - nowMs };
}
