/**
 * @module
 * Sliding window counter: two epoch-aligned fixed windows, the previous one weighted by how much of it still
 * overlaps the sliding window: `weighted = previous * (1 - elapsed/W) + current`. O(1) memory and approximate,
 * but it never admits more than `limit` (L) in one fixed window. The state lives through the next window, where
 * it is that window's `previous`.
 */

import { peekOf, type RefundOutcome, remainingUnits, windowStartOf } from "../shared.ts";
import { type DecideInput, type Outcome, TIME_EPSILON_MS, type WindowShape } from "../types.ts";

/** Sliding window counter state: the current fixed window and the counts of it and of the one before. */
export interface SlidingCounterState {
  readonly windowStart: number;
  readonly current: number;
  readonly previous: number;
}

/** Counts of the current window and of the one before, as of window start `ws`. */
interface Counts {
  readonly cur: number;
  readonly prev: number;
}

function countsAt(state: SlidingCounterState | undefined, ws: number, windowMs: number): Counts {
  if (state === undefined) return { cur: 0, prev: 0 };
  if (state.windowStart === ws) return { cur: state.current, prev: state.previous };
  if (state.windowStart === ws - windowMs) return { cur: 0, prev: state.current };
  return { cur: 0, prev: 0 };
}

function resetAfter(cur: number, prev: number, ws: number, windowMs: number, nowMs: number): number {
  if (cur > 0) return ws + 2 * windowMs - nowMs;
  if (prev > 0) return ws + windowMs - nowMs;
  return 0;
}

/**
 * Decides one sliding window counter call. `maxWaitMs` is ignored. A cost above `limit` is denied with
 * `retryAfterMs = Infinity`.
 *
 * @example
 * const params = { kind: "sliding_window_counter", limit: 10, windowMs: 1000 } as const;
 * decideSlidingWindowCounter(params, { state: { windowStart: 0, current: 10, previous: 0 }, nowMs: 1500, cost: 1, maxWaitMs: 0 })
 * // weighted = 10 * 0.5 + 0 = 5 → allowed, remaining 4
 */
export function decideSlidingWindowCounter(
  params: WindowShape,
  input: DecideInput<SlidingCounterState>,
): Outcome<SlidingCounterState> {
  const { limit, windowMs } = params;
  const { state, nowMs, cost } = input;
  const ws = windowStartOf(nowMs, windowMs);
  const { cur, prev } = countsAt(state, ws, windowMs);
  const weighted = prev * (1 - (nowMs - ws) / windowMs) + cur;

  if (cost <= limit && cur + cost <= limit && weighted + cost <= limit + TIME_EPSILON_MS) {
    const ttlMs = ws + 2 * windowMs - nowMs;
    return {
      allowed: true,
      limit,
      remaining: remainingUnits(limit - (weighted + cost)),
      resetAfterMs: ttlMs,
      retryAfterMs: 0,
      waitMs: 0,
      state: { windowStart: ws, current: cur + cost, previous: prev },
      ttlMs,
    };
  }

  let retryAfterMs: number;
  if (cost > limit) {
    retryAfterMs = Number.POSITIVE_INFINITY;
  } else if (cur + cost > limit) {
    // Not before the next window; there `cur` becomes the previous count and must fade until `cost` fits:
    // cur * (1 - e/W) + cost <= L  ⇔  e >= W * (1 - (L - cost) / cur). (cur > L - cost >= 0 here.)
    retryAfterMs = ws + windowMs + windowMs * (1 - (limit - cost) / cur) - nowMs;
  } else {
    // This window has room; wait until the weight of the previous one has fallen enough. prev > 0 here:
    // with prev = 0, weighted = cur and the call would have fit.
    retryAfterMs = ws + windowMs * (1 - (limit - cur - cost) / prev) - nowMs;
  }
  const resetAfterMs = resetAfter(cur, prev, ws, windowMs, nowMs);
  return {
    allowed: false,
    limit,
    remaining: remainingUnits(limit - weighted),
    resetAfterMs,
    retryAfterMs,
    waitMs: 0,
    state,
    ttlMs: resetAfterMs,
  };
}

/** Reports a sliding window counter as of `nowMs`, consuming nothing (its decide with an infinite cost). */
export const peekSlidingWindowCounter = peekOf(decideSlidingWindowCounter);

/**
 * Gives back `cost` units of an allowed call, if it was counted in the current window (`current -= cost`). A
 * negative `cost` is a charge: the current window's count (rolled forward from an earlier window, keeping its
 * previous count) grows by `|cost|`, above the limit if need be.
 */
export function refundSlidingWindowCounter(
  params: WindowShape,
  state: SlidingCounterState | undefined,
  nowMs: number,
  cost: number,
): RefundOutcome<SlidingCounterState> {
  const { windowMs } = params;
  const ws = windowStartOf(nowMs, windowMs);
  if (cost < 0) {
    const { cur, prev } = countsAt(state, ws, windowMs);
    const current = cur - cost;
    return {
      state: { windowStart: ws, current, previous: prev },
      ttlMs: resetAfter(current, prev, ws, windowMs, nowMs),
    };
  }
  if (state === undefined || state.windowStart !== ws) {
    // Counted in an earlier window: that count is now `previous` and stays (refunding it would be guesswork).
    const ttlMs = resetAfter(0, countsAt(state, ws, windowMs).prev, ws, windowMs, nowMs);
    return ttlMs > 0 ? { state, ttlMs } : { state: undefined, ttlMs: 0 };
  }
  const current = Math.max(0, state.current - cost);
  const ttlMs = resetAfter(current, state.previous, ws, windowMs, nowMs);
  if (ttlMs <= 0) return { state: undefined, ttlMs: 0 };
  return { state: { windowStart: ws, current, previous: state.previous }, ttlMs };
}
