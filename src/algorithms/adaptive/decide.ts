/**
 * @module
 * The adaptive hybrid: a token bucket refilled at the base rate `limit / window`, whose capacity (the burst cap)
 * follows the measured load, and a hard window guard that admits at most the cap in one epoch-aligned window.
 *
 * - **Load** `L`: an exponentially weighted average of the units admitted per window, over the completed
 *   windows, as a fraction of `limit`. At each window start the window that ended is folded in with weight
 *   `w = min(1, window / adaptive_window)`: `E ← (1 − w)·E + w·used`; every window without a call multiplies
 *   `E` by `1 − w` once more. `L = E / limit`.
 * - **Cap** `C(L)`: `Cmax = burst_multiplier × limit` when `L ≤ low`, `Chigh = max(limit, Cmax × (1 − penalty))`
 *   when `L ≥ high`, linear in between; floored to whole units. It is computed from the load at the window's
 *   start, so it holds for the whole window and moves only at window starts.
 * - **Bucket** (GCRA, one timestamp `tat`): refilled at one unit every `T = window / limit` ms, capacity `C`.
 * - **Guard**: at most `C` units admitted in the current window.
 *
 * A call of cost `c` is allowed when `c ≤ C`, the bucket holds `c` tokens and the window has room for `c`. The
 * state is O(1): `tat`, the window start, the units of that window and the load `E`. Only `+ − × ÷`, `floor` and
 * comparisons are used (the decay over idle windows is a power by squaring), so TypeScript, Lua and PostgreSQL
 * compute bit-identical doubles. A key idle for `ceil(10 × adaptive_window / window)` windows forgets its load
 * (its weight is below `e^-10` of what it was), which bounds how long its state lives.
 */

import { capacityOf, peekOf, type RefundOutcome, remainingUnits, windowStartOf } from "../shared.ts";
import { type DecideInput, type Outcome, TIME_EPSILON_MS, type WindowShape } from "../types.ts";

/** The adaptive hybrid's tuning, beside its base `limit` per `windowMs`. */
export interface AdaptiveShape extends WindowShape {
  /** Largest cap, as a multiple of `limit` (at least 1). */
  readonly burstMultiplier: number;
  /** The span the load is measured over, in ms (the decay constant of the load). */
  readonly adaptiveWindowMs: number;
  /** Load (fraction of the base rate) at and above which the cap is at its lowest. */
  readonly highLoad: number;
  /** Load at and below which the cap is at its largest (`lowLoad < highLoad`). */
  readonly lowLoad: number;
  /** How much of the largest cap is taken away at high load, in `[0, 1]`. */
  readonly penalty: number;
}

/** Adaptive state: the bucket's `tat`, the window of `used`, and the load `E` of the windows before it. */
export interface AdaptiveState {
  readonly tat: number;
  readonly windowStart: number;
  /** Units admitted in the window starting at `windowStart`. */
  readonly used: number;
  /** Weighted average of units admitted per window, over the windows before `windowStart`. */
  readonly load: number;
}

/** `base^n` for a whole `n ≥ 0` by squaring: the same multiplications in the same order in every encoding. */
export function powWhole(base: number, n: number): number {
  let result = 1;
  let b = base;
  let e = n;
  while (e > 0) {
    if (e % 2 === 1) result *= b;
    b *= b;
    e = Math.floor(e / 2);
  }
  return result;
}

/** The weight of one window in the load: `min(1, window / adaptive_window)`. */
export function loadWeight(params: AdaptiveShape): number {
  return Math.min(1, params.windowMs / params.adaptiveWindowMs);
}

/** Windows without a call after which a key forgets its load: `ceil(10 × adaptive_window / window)`. */
export function forgetWindows(params: AdaptiveShape): number {
  return Math.ceil((10 * params.adaptiveWindowMs) / params.windowMs);
}

/** The largest cap: `floor(burst_multiplier × limit)` (what a quiet key may burst, and the policy's quota). */
export function maxCap(params: AdaptiveShape): number {
  return capacityOf(params);
}

/**
 * The burst cap at load `L` (a fraction of the base rate): `Cmax` up to `low`, `Chigh` from `high`, linear in
 * between, floored to whole units (never below `limit`).
 *
 * @example capAt({ kind: "adaptive", limit: 100, windowMs: 60_000, burstMultiplier: 3, adaptiveWindowMs: 300_000, highLoad: 0.8, lowLoad: 0.4, penalty: 0.5 }, 0.6) // 225
 */
export function capAt(params: AdaptiveShape, load: number): number {
  const { limit, burstMultiplier, highLoad, lowLoad, penalty } = params;
  const top = burstMultiplier * limit;
  const bottom = Math.max(limit, top * (1 - penalty));
  let cap: number;
  if (load <= lowLoad) cap = top;
  else if (load >= highLoad) cap = bottom;
  else cap = top - ((top - bottom) * (load - lowLoad)) / (highLoad - lowLoad);
  return Math.floor(cap + TIME_EPSILON_MS);
}

/** The window, its units and its load as of `nowMs` (the window that ended folded in, idle windows decayed). */
interface Current {
  readonly ws: number;
  readonly used: number;
  readonly load: number;
}

function currentOf(params: AdaptiveShape, state: AdaptiveState | undefined, nowMs: number): Current {
  const { windowMs } = params;
  const ws = windowStartOf(nowMs, windowMs);
  if (state === undefined) return { ws, used: 0, load: 0 };
  // A stored window at or after this one (the store's clock stepped back) is kept as it is: never forget early.
  if (state.windowStart >= ws) return { ws: state.windowStart, used: state.used, load: state.load };
  const windows = Math.floor((ws - state.windowStart) / windowMs + 0.5);
  if (windows > forgetWindows(params)) return { ws, used: 0, load: 0 };
  const w = loadWeight(params);
  const keep = 1 - w;
  const load = (keep * state.load + w * state.used) * powWhole(keep, windows - 1);
  return { ws, used: 0, load };
}

/** How long a state written in window `ws` with bucket `tat` matters: until the bucket is full and the load forgotten. */
function ttlOf(params: AdaptiveShape, tat: number, ws: number, nowMs: number): number {
  return Math.max(tat, ws + (forgetWindows(params) + 1) * params.windowMs) - nowMs;
}

/**
 * Decides one adaptive call. `maxWaitMs` is ignored (no reservations: the cap of a later window is not known
 * yet); the caller retries after `retryAfterMs`. A cost above the largest cap is denied with
 * `retryAfterMs = Infinity`; a cost above the current cap but within the largest waits for the next window.
 *
 * @example
 * const params = { kind: "adaptive", limit: 10, windowMs: 1000, burstMultiplier: 3, adaptiveWindowMs: 5000, highLoad: 0.8, lowLoad: 0.4, penalty: 0.5 } as const;
 * decideAdaptive(params, { state: undefined, nowMs: 0, cost: 1, maxWaitMs: 0 })
 * // → allowed, limit 30 (the cap), remaining 29
 */
export function decideAdaptive(
  params: AdaptiveShape,
  input: DecideInput<AdaptiveState>,
): Outcome<AdaptiveState> {
  const { limit, windowMs } = params;
  const { state, nowMs, cost } = input;
  const intervalMs = windowMs / limit;
  const { ws, used, load } = currentOf(params, state, nowMs);
  const cap = capAt(params, load / limit);
  const tat0 = state !== undefined && state.tat > nowMs ? state.tat : nowMs;
  const windowEnd = ws + windowMs - nowMs;

  if (cost <= cap) {
    const newTat = tat0 + cost * intervalMs;
    const bucketWait = newTat - cap * intervalMs - nowMs;
    const fits = used + cost <= cap;
    if (bucketWait <= TIME_EPSILON_MS && fits) {
      const aheadMs = newTat - nowMs;
      return {
        allowed: true,
        limit: cap,
        remaining: remainingUnits(Math.min((cap * intervalMs - aheadMs) / intervalMs, cap - used - cost)),
        resetAfterMs: Math.max(aheadMs, windowEnd),
        retryAfterMs: 0,
        waitMs: 0,
        state: { tat: newTat, windowStart: ws, used: used + cost, load },
        ttlMs: ttlOf(params, newTat, ws, nowMs),
      };
    }
    // The bucket's wait, and the window's end when the window has no room (the cap holds until then).
    const retry = Math.max(bucketWait, fits ? 0 : windowEnd);
    return denied(params, state, cap, tat0, used, windowEnd, nowMs, retry);
  }
  const retry = cost > maxCap(params) ? Number.POSITIVE_INFINITY : windowEnd;
  return denied(params, state, cap, tat0, used, windowEnd, nowMs, retry);
}

function denied(
  params: AdaptiveShape,
  state: AdaptiveState | undefined,
  cap: number,
  tat0: number,
  used: number,
  windowEnd: number,
  nowMs: number,
  retryAfterMs: number,
): Outcome<AdaptiveState> {
  const intervalMs = params.windowMs / params.limit;
  const busyMs = tat0 - nowMs;
  const resetAfterMs = Math.max(busyMs, used > 0 ? windowEnd : 0);
  return {
    allowed: false,
    limit: cap,
    remaining: remainingUnits(Math.min((cap * intervalMs - busyMs) / intervalMs, cap - used)),
    resetAfterMs,
    retryAfterMs,
    waitMs: 0,
    state,
    ttlMs: resetAfterMs,
  };
}

/** Reports an adaptive key as of `nowMs`, consuming nothing (its decide with an infinite cost). */
export const peekAdaptive = peekOf(decideAdaptive);

/**
 * Gives back `cost` units of an allowed call: the bucket's `tat -= cost × T` (not below now), and the window's
 * count when the call was counted in the current window. The load is left as it is (it holds only ended windows).
 *
 * A negative `cost` is a charge: the `tat` moves `|cost| × T` later from `max(tat, now)` (debt, as in a token
 * bucket), and `|cost|` counts as used in the current window (an earlier stored window rolled forward first, as
 * a decision does), so the charged units weigh in the load like admitted ones.
 */
export function refundAdaptive(
  params: AdaptiveShape,
  state: AdaptiveState | undefined,
  nowMs: number,
  cost: number,
): RefundOutcome<AdaptiveState> {
  const intervalMs = params.windowMs / params.limit;
  if (cost < 0) {
    // From now for an empty or full bucket; the units count in the window as admitted ones do.
    const { ws, used, load } = currentOf(params, state, nowMs);
    const charged = Math.max(state?.tat ?? nowMs, nowMs) - cost * intervalMs;
    return {
      state: { tat: charged, windowStart: ws, used: used - cost, load },
      ttlMs: ttlOf(params, charged, ws, nowMs),
    };
  }
  if (state === undefined) return { state: undefined, ttlMs: 0 };
  const tat = Math.max(nowMs, state.tat - cost * intervalMs);
  const sameWindow = state.windowStart === windowStartOf(nowMs, params.windowMs);
  const used = sameWindow ? Math.max(0, state.used - cost) : state.used;
  return {
    state: { tat, windowStart: state.windowStart, used, load: state.load },
    ttlMs: ttlOf(params, tat, state.windowStart, nowMs),
  };
}
