/**
 * @module
 * Fixed window: at most `limit` (L) units per window of `windowMs` (W), windows aligned to multiples of W since
 * the Unix epoch so every key resets at the same instants. State: the window's start and the units used in it.
 */

import { peekOf, type RefundOutcome, remainingUnits, windowStartOf } from "../shared.ts";
import type { DecideInput, Outcome, WindowShape } from "../types.ts";

/** Fixed window state: the window's start (a multiple of `windowMs` since the epoch) and units used in it. */
export interface FixedWindowState {
  readonly windowStart: number;
  readonly count: number;
}

/**
 * Decides one fixed window call. `maxWaitMs` is ignored: a denied caller retries after `retryAfterMs` (the end
 * of the window). A cost above `limit` is denied with `retryAfterMs = Infinity`.
 *
 * @example
 * decideFixedWindow({ kind: "fixed_window", limit: 2, windowMs: 1000 }, { state: undefined, nowMs: 1250, cost: 1, maxWaitMs: 0 })
 * // → allowed, remaining 1, resetAfterMs 750, state { windowStart: 1000, count: 1 }
 */
export function decideFixedWindow(
  params: WindowShape,
  input: DecideInput<FixedWindowState>,
): Outcome<FixedWindowState> {
  const { limit, windowMs } = params;
  const { state, nowMs, cost } = input;
  const ws = windowStartOf(nowMs, windowMs);
  const count = state !== undefined && state.windowStart === ws ? state.count : 0;
  const endMs = ws + windowMs - nowMs;

  if (cost <= limit && count + cost <= limit) {
    return {
      allowed: true,
      limit,
      remaining: remainingUnits(limit - count - cost),
      resetAfterMs: endMs,
      retryAfterMs: 0,
      waitMs: 0,
      state: { windowStart: ws, count: count + cost },
      ttlMs: endMs,
    };
  }
  return {
    allowed: false,
    limit,
    remaining: remainingUnits(limit - count),
    resetAfterMs: count > 0 ? endMs : 0,
    retryAfterMs: cost > limit ? Number.POSITIVE_INFINITY : endMs,
    waitMs: 0,
    state,
    ttlMs: endMs,
  };
}

/** Reports a fixed window as of `nowMs`, consuming nothing (its decide with an infinite cost). */
export const peekFixedWindow = peekOf(decideFixedWindow);

/**
 * Gives back `cost` units of an allowed call, if it was counted in the current window (`count -= cost`). A
 * negative `cost` is a charge: the current window's count (0 for an empty or earlier window) grows by `|cost|`,
 * above the limit if need be, and the window denies until it ends.
 */
export function refundFixedWindow(
  params: WindowShape,
  state: FixedWindowState | undefined,
  nowMs: number,
  cost: number,
): RefundOutcome<FixedWindowState> {
  const ws = windowStartOf(nowMs, params.windowMs);
  // A call counted in an earlier window is already forgotten: nothing to give back (and a charge starts at 0).
  const count = (state !== undefined && state.windowStart === ws ? state.count : 0) - cost;
  if (count <= 0) return { state: undefined, ttlMs: 0 };
  return { state: { windowStart: ws, count }, ttlMs: ws + params.windowMs - nowMs };
}
