/**
 * @module
 * Sliding window log (exact): at most `limit` (L) units in any interval of length `windowMs` (W) ending now. The
 * state lists admitted calls as flat `[time, cost]` pairs, oldest first; an entry counts while `now - t < W`.
 */

import { peekOf, type RefundOutcome, remainingUnits } from "../shared.ts";
import type { DecideInput, Outcome, WindowShape } from "../types.ts";

/**
 * Sliding window log: admitted calls, oldest first, as `[time, cost]` pairs flattened into one array
 * (`[t0, c0, t1, c1, …]`) so one key costs one small array rather than one object per call.
 */
export interface SlidingWindowState {
  readonly entries: readonly number[];
}

/** Index (into the flat array) of the first entry still inside the window: entries with `t <= now - W` are out. */
function firstLive(entries: readonly number[], nowMs: number, windowMs: number): number {
  const horizon = nowMs - windowMs;
  let i = 0;
  while (i < entries.length && (entries[i] ?? 0) <= horizon) i += 2;
  return i;
}

/** Sum of the costs from flat index `from` on. */
function usedFrom(entries: readonly number[], from: number): number {
  let used = 0;
  for (let i = from + 1; i < entries.length; i += 2) used += entries[i] ?? 0;
  return used;
}

/**
 * Decides one sliding log call. `maxWaitMs` is ignored. When denied, `retryAfterMs` is the time until enough of
 * the oldest entries have left the window for the same call to fit; a cost above `limit` gets `Infinity`.
 *
 * @example
 * const params = { kind: "sliding_window", limit: 2, windowMs: 1000 } as const;
 * decideSlidingWindow(params, { state: { entries: [0, 1, 400, 1] }, nowMs: 500, cost: 1, maxWaitMs: 0 })
 * // → denied, retryAfterMs 500 (the entry at 0 leaves at 1000)
 */
export function decideSlidingWindow(
  params: WindowShape,
  input: DecideInput<SlidingWindowState>,
): Outcome<SlidingWindowState> {
  const { limit, windowMs } = params;
  const { state, nowMs, cost } = input;
  const entries = state === undefined ? EMPTY : state.entries;
  const from = firstLive(entries, nowMs, windowMs);
  const used = usedFrom(entries, from);

  if (cost <= limit && used + cost <= limit) {
    const last = entries.length > from ? (entries[entries.length - 2] ?? nowMs) : nowMs;
    // Keep the log sorted even if the clock stepped back a little (e.g. after a failover).
    const t = Math.max(last, nowMs);
    const next = entries.slice(from);
    next.push(t, cost);
    return {
      allowed: true,
      limit,
      remaining: remainingUnits(limit - used - cost),
      resetAfterMs: t + windowMs - nowMs,
      retryAfterMs: 0,
      waitMs: 0,
      state: { entries: next },
      ttlMs: t + windowMs - nowMs,
    };
  }

  let retryAfterMs = Number.POSITIVE_INFINITY;
  if (cost <= limit) {
    // The first entry whose departure (with all older ones) makes room for `cost`.
    let left = used;
    for (let i = from; i < entries.length; i += 2) {
      left -= entries[i + 1] ?? 0;
      if (left + cost <= limit) {
        retryAfterMs = (entries[i] ?? nowMs) + windowMs - nowMs;
        break;
      }
    }
  }
  const resetAfterMs = entries.length > from ? (entries[entries.length - 2] ?? nowMs) + windowMs - nowMs : 0;
  return {
    allowed: false,
    limit,
    remaining: remainingUnits(limit - used),
    resetAfterMs,
    retryAfterMs,
    waitMs: 0,
    state,
    ttlMs: resetAfterMs,
  };
}

const EMPTY: readonly number[] = [];

/** Reports a sliding log as of `nowMs`, consuming nothing (its decide with an infinite cost). */
export const peekSlidingWindow = peekOf(decideSlidingWindow);

/**
 * Gives back an allowed call: removes the most recent live entry of exactly `cost` (the call being refunded is
 * almost always the newest). When no entry matches, `cost` is taken off the newest entries instead.
 *
 * A negative `cost` is a charge: after the expired entries are dropped, `|cost|` is counted at the newest
 * entry's time when that is already `>= now` (added to that entry, so charges within one ms do not grow the
 * log), else as a new entry at now. The live sum may go above the limit: debt, denied until enough has left
 * the window.
 */
export function refundSlidingWindow(
  params: WindowShape,
  state: SlidingWindowState | undefined,
  nowMs: number,
  cost: number,
): RefundOutcome<SlidingWindowState> {
  if (cost < 0) return chargeSlidingWindow(params, state, nowMs, -cost);
  if (state === undefined) return { state: undefined, ttlMs: 0 };
  const from = firstLive(state.entries, nowMs, params.windowMs);
  const next = state.entries.slice(from);
  let match = -1;
  for (let i = next.length - 2; i >= 0; i -= 2) {
    if (next[i + 1] === cost) {
      match = i;
      break;
    }
  }
  if (match >= 0) {
    next.splice(match, 2);
  } else {
    let owed = cost;
    while (owed > 0 && next.length > 0) {
      const c = next[next.length - 1] ?? 0;
      if (c > owed) {
        next[next.length - 1] = c - owed;
        owed = 0;
      } else {
        next.length -= 2;
        owed -= c;
      }
    }
  }
  if (next.length === 0) return { state: undefined, ttlMs: 0 };
  return { state: { entries: next }, ttlMs: (next[next.length - 2] ?? nowMs) + params.windowMs - nowMs };
}

/** The charge half of {@link refundSlidingWindow}: counts `units` at `max(newest entry, now)`. */
function chargeSlidingWindow(
  params: WindowShape,
  state: SlidingWindowState | undefined,
  nowMs: number,
  units: number,
): RefundOutcome<SlidingWindowState> {
  const entries = state === undefined ? EMPTY : state.entries;
  const next = entries.slice(firstLive(entries, nowMs, params.windowMs));
  const newest = next.length > 0 ? (next[next.length - 2] ?? nowMs) : nowMs;
  if (next.length > 0 && newest >= nowMs) next[next.length - 1] = (next[next.length - 1] ?? 0) + units;
  else next.push(nowMs, units);
  const t = Math.max(newest, nowMs);
  return { state: { entries: next }, ttlMs: t + params.windowMs - nowMs };
}
