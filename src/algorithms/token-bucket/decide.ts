/**
 * @module
 * Token bucket as GCRA (generic cell rate algorithm): one timestamp per key, the theoretical arrival time
 * `tat` of the next unit. Capacity `burst` (B), one unit refilled every `intervalMs` (T). A call of cost `c`
 * conforms when `max(tat, now) + c*T - B*T <= now`. See the project's algorithm math for the exact rules.
 */

import { type GcraState, refundGcra } from "../gcra.ts";
import { peekOf, type RefundOutcome, remainingUnits } from "../shared.ts";
import { type BucketShape, type DecideInput, type Outcome, TIME_EPSILON_MS } from "../types.ts";

/**
 * Decides one token bucket call. Allowed at once when the bucket holds `cost` tokens; with a positive
 * `maxWaitMs` a call that would conform within that budget is allowed as a **reservation** (`waitMs > 0`, its
 * tokens are taken now). A cost above `burst` is denied with `retryAfterMs = Infinity`.
 *
 * @example
 * decideTokenBucket({ kind: "token_bucket", intervalMs: 100, burst: 10 }, { state: undefined, nowMs: 0, cost: 1, maxWaitMs: 0 })
 * // → allowed, remaining 9, resetAfterMs 100, state { tat: 100 }
 */
export function decideTokenBucket(params: BucketShape, input: DecideInput<GcraState>): Outcome<GcraState> {
  const { intervalMs, burst } = params;
  const { state, nowMs, cost, maxWaitMs } = input;
  const tat0 = state !== undefined && state.tat > nowMs ? state.tat : nowMs;
  const capacityMs = burst * intervalMs;

  if (cost <= burst) {
    const newTat = tat0 + cost * intervalMs;
    const wait = newTat - capacityMs - nowMs;
    if (wait <= TIME_EPSILON_MS || wait <= maxWaitMs) {
      const aheadMs = newTat - nowMs;
      return {
        allowed: true,
        limit: burst,
        remaining: remainingUnits((capacityMs - aheadMs) / intervalMs),
        resetAfterMs: aheadMs,
        retryAfterMs: 0,
        waitMs: wait <= TIME_EPSILON_MS ? 0 : wait,
        state: { tat: newTat },
        ttlMs: aheadMs,
      };
    }
    return denied(params, state, tat0 - nowMs, wait);
  }
  return denied(params, state, tat0 - nowMs, Number.POSITIVE_INFINITY);
}

function denied(
  params: BucketShape,
  state: GcraState | undefined,
  busyMs: number,
  retryAfterMs: number,
): Outcome<GcraState> {
  return {
    allowed: false,
    limit: params.burst,
    remaining: remainingUnits((params.burst * params.intervalMs - busyMs) / params.intervalMs),
    resetAfterMs: busyMs,
    retryAfterMs,
    waitMs: 0,
    state,
    ttlMs: busyMs,
  };
}

/** Reports a token bucket as of `nowMs`, consuming nothing (its decide with an infinite cost). */
export const peekTokenBucket = peekOf(decideTokenBucket);

/** Gives back the `cost` tokens of an allowed call: `tat -= cost*T`, not below now. */
export function refundTokenBucket(
  params: BucketShape,
  state: GcraState | undefined,
  nowMs: number,
  cost: number,
): RefundOutcome<GcraState> {
  return refundGcra(params.intervalMs, state, nowMs, cost);
}
