/**
 * @module
 * Leaky bucket as a shaper: departures `intervalMs` (T) apart, at most `burst` (B) units queued ahead. The state
 * `tat` is the next free departure slot. A call takes the slot `max(tat, now)` and occupies `cost*T` of the line.
 * `tryAcquire` (no wait budget) is allowed only when nobody is queued — a strict rate with no bursts; `acquire`
 * reserves a slot up to B units ahead and sleeps until it.
 */

import { type GcraState, refundGcra } from "../gcra.ts";
import { peekOf, type RefundOutcome, remainingUnits } from "../shared.ts";
import { type BucketShape, type DecideInput, type Outcome, TIME_EPSILON_MS } from "../types.ts";

/**
 * Decides one leaky bucket call. Denied when the queue has no room for `cost` more units (retry once enough has
 * drained), or when the slot is later than `maxWaitMs` (retry when it is free). A cost above `burst` is denied
 * with `retryAfterMs = Infinity`.
 *
 * @example
 * const params = { kind: "leaky_bucket", intervalMs: 100, burst: 5 } as const;
 * decideLeakyBucket(params, { state: { tat: 300 }, nowMs: 0, cost: 1, maxWaitMs: 1000 })
 * // → allowed, waitMs 300, state { tat: 400 }
 */
export function decideLeakyBucket(params: BucketShape, input: DecideInput<GcraState>): Outcome<GcraState> {
  const { intervalMs, burst } = params;
  const { state, nowMs, cost, maxWaitMs } = input;
  const slot = state !== undefined && state.tat > nowMs ? state.tat : nowMs;
  const wait = slot - nowMs;

  if (cost > burst) return denied(params, state, wait, Number.POSITIVE_INFINITY);
  const queued = wait / intervalMs;
  if (queued + cost > burst + TIME_EPSILON_MS / intervalMs) {
    // Full. A caller whose budget covers the wait can reserve once `queued + cost - B` units have left the
    // queue; any other caller (tryAcquire, a short timeout) only once the queue is empty, so it is told that.
    const drainMs = (queued + cost - burst) * intervalMs;
    return denied(params, state, wait, wait > maxWaitMs ? wait : drainMs);
  }
  if (wait > TIME_EPSILON_MS && wait > maxWaitMs) return denied(params, state, wait, wait);

  const tat = slot + cost * intervalMs;
  const aheadMs = tat - nowMs;
  return {
    allowed: true,
    limit: burst,
    remaining: remainingUnits(burst - aheadMs / intervalMs),
    resetAfterMs: aheadMs,
    retryAfterMs: 0,
    waitMs: wait <= TIME_EPSILON_MS ? 0 : wait,
    state: { tat },
    ttlMs: aheadMs,
  };
}

function denied(
  params: BucketShape,
  state: GcraState | undefined,
  wait: number,
  retryAfterMs: number,
): Outcome<GcraState> {
  return {
    allowed: false,
    limit: params.burst,
    remaining: remainingUnits(params.burst - wait / params.intervalMs),
    resetAfterMs: wait,
    retryAfterMs,
    waitMs: 0,
    state,
    ttlMs: wait,
  };
}

/**
 * Reports a leaky bucket as of `nowMs`, consuming nothing (its decide with an infinite cost): free queue room and
 * time until the queue is empty.
 */
export const peekLeakyBucket = peekOf(decideLeakyBucket);

/** Gives back the slot of an allowed call: `tat -= cost*T`, not below now. */
export function refundLeakyBucket(
  params: BucketShape,
  state: GcraState | undefined,
  nowMs: number,
  cost: number,
): RefundOutcome<GcraState> {
  return refundGcra(params.intervalMs, state, nowMs, cost);
}
