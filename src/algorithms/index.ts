/**
 * @module
 * The algorithms, dispatched on `params.kind` through the registry. Every function is pure: no clock, no I/O,
 * no hidden state. The memory store runs them directly; the Redis and PostgreSQL stores encode the same math
 * and are tested against them.
 */

import { ALGORITHMS } from "./registry.ts";
import { peekOf, type RefundOutcome } from "./shared.ts";
import type { Algorithm, DecideInput, Outcome, PeekOutcome, RateParams } from "./types.ts";

export { decideAdaptive, peekAdaptive, refundAdaptive } from "./adaptive/index.ts";
export {
  acquireLease,
  peekConcurrency,
  type RenewOutcome,
  releaseLease,
  renewLease,
} from "./concurrency/index.ts";
export { decideFixedWindow, peekFixedWindow, refundFixedWindow } from "./fixed-window/index.ts";
export { decideLeakyBucket, peekLeakyBucket, refundLeakyBucket } from "./leaky-bucket/index.ts";
export { capacityOf, type RefundOutcome, remainingUnits, windowStartOf } from "./shared.ts";
export { decideSlidingWindow, peekSlidingWindow, refundSlidingWindow } from "./sliding-window/index.ts";
export {
  decideSlidingWindowCounter,
  peekSlidingWindowCounter,
  refundSlidingWindowCounter,
} from "./sliding-window-counter/index.ts";
export { decideTokenBucket, peekTokenBucket, refundTokenBucket } from "./token-bucket/index.ts";
export * from "./types.ts";

/** The state of any rate algorithm. Which shape a stored value has follows from `stateTag(params)`. */
export type RateState = {
  [K in Algorithm]: (typeof ALGORITHMS)[K] extends { decide(p: never, i: DecideInput<infer S>): unknown }
    ? S
    : never;
}[Algorithm];

// The casts below are sound as long as a state is only ever fed back to the algorithm that produced it: stores
// key states by `stateTag(params)`, which contains the algorithm, so a state never meets another algorithm.

/**
 * Decides one call of any rate algorithm.
 *
 * @example
 * decide({ kind: "fixed_window", limit: 10, windowMs: 60_000 }, { state: undefined, nowMs: Date.now(), cost: 1, maxWaitMs: 0 })
 */
export function decide(params: RateParams, input: DecideInput<unknown>): Outcome<unknown> {
  return ALGORITHMS[params.kind].decide(params as never, input as DecideInput<never>);
}

const peekAny = peekOf(decide);

/** Reports any rate algorithm's state as of `nowMs`, consuming nothing: its decide with an infinite cost. */
export function peek(params: RateParams, state: unknown, nowMs: number): PeekOutcome {
  return peekAny(params, state, nowMs);
}

/** Gives back `cost` units of an allowed call of any rate algorithm, as well as the algorithm can. */
export function refund(
  params: RateParams,
  state: unknown,
  nowMs: number,
  cost: number,
): RefundOutcome<unknown> {
  return ALGORITHMS[params.kind].refund(params as never, state as never, nowMs, cost);
}
