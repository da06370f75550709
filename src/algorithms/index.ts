/**
 * @module
 * The algorithms, dispatched on `params.kind`. Every function is pure: no clock, no I/O, no hidden state. The
 * memory store runs them directly; the Redis and PostgreSQL stores encode the same math and are tested against
 * them.
 */

import { acquireLease, peekConcurrency, type RenewOutcome, releaseLease, renewLease } from "./concurrency.ts";
import { decideFixedWindow, peekFixedWindow, refundFixedWindow } from "./fixed-window.ts";
import { decideLeakyBucket, peekLeakyBucket, refundLeakyBucket } from "./leaky-bucket.ts";
import { capacityOf, type RefundOutcome, remainingUnits, windowStartOf } from "./shared.ts";
import { decideSlidingWindow, peekSlidingWindow, refundSlidingWindow } from "./sliding-window.ts";
import {
  decideSlidingWindowCounter,
  peekSlidingWindowCounter,
  refundSlidingWindowCounter,
} from "./sliding-window-counter.ts";
import { decideTokenBucket, peekTokenBucket, refundTokenBucket } from "./token-bucket.ts";
import type {
  DecideInput,
  FixedWindowState,
  GcraState,
  Outcome,
  PeekOutcome,
  RateParams,
  SlidingCounterState,
  SlidingLogState,
} from "./types.ts";

export * from "./types.ts";
export {
  acquireLease,
  capacityOf,
  decideFixedWindow,
  decideLeakyBucket,
  decideSlidingWindow,
  decideSlidingWindowCounter,
  decideTokenBucket,
  peekConcurrency,
  peekFixedWindow,
  peekLeakyBucket,
  peekSlidingWindow,
  peekSlidingWindowCounter,
  peekTokenBucket,
  type RefundOutcome,
  type RenewOutcome,
  refundFixedWindow,
  refundLeakyBucket,
  refundSlidingWindow,
  refundSlidingWindowCounter,
  refundTokenBucket,
  releaseLease,
  remainingUnits,
  renewLease,
  windowStartOf,
};

/** The state of any rate algorithm. Which shape a stored value has follows from `stateTag(params)`. */
export type RateState = GcraState | FixedWindowState | SlidingLogState | SlidingCounterState;

// The casts below are sound as long as a state is only ever fed back to the algorithm that produced it: stores
// key states by `stateTag(params)`, which contains the algorithm, so a state never meets another algorithm.

/**
 * Decides one call of any rate algorithm.
 *
 * @example
 * decide({ kind: "fixed_window", limit: 10, windowMs: 60_000 }, { state: undefined, nowMs: Date.now(), cost: 1, maxWaitMs: 0 })
 */
export function decide(params: RateParams, input: DecideInput<unknown>): Outcome<unknown> {
  switch (params.kind) {
    case "token_bucket":
      return decideTokenBucket(params, input as DecideInput<GcraState>);
    case "leaky_bucket":
      return decideLeakyBucket(params, input as DecideInput<GcraState>);
    case "fixed_window":
      return decideFixedWindow(params, input as DecideInput<FixedWindowState>);
    case "sliding_window":
      return decideSlidingWindow(params, input as DecideInput<SlidingLogState>);
    case "sliding_window_counter":
      return decideSlidingWindowCounter(params, input as DecideInput<SlidingCounterState>);
  }
}

/** Reports any rate algorithm's state as of `nowMs`, consuming nothing. */
export function peek(params: RateParams, state: unknown, nowMs: number): PeekOutcome {
  switch (params.kind) {
    case "token_bucket":
      return peekTokenBucket(params, state as GcraState | undefined, nowMs);
    case "leaky_bucket":
      return peekLeakyBucket(params, state as GcraState | undefined, nowMs);
    case "fixed_window":
      return peekFixedWindow(params, state as FixedWindowState | undefined, nowMs);
    case "sliding_window":
      return peekSlidingWindow(params, state as SlidingLogState | undefined, nowMs);
    case "sliding_window_counter":
      return peekSlidingWindowCounter(params, state as SlidingCounterState | undefined, nowMs);
  }
}

/** Gives back `cost` units of an allowed call of any rate algorithm, as well as the algorithm can. */
export function refund(
  params: RateParams,
  state: unknown,
  nowMs: number,
  cost: number,
): RefundOutcome<unknown> {
  switch (params.kind) {
    case "token_bucket":
      return refundTokenBucket(params, state as GcraState | undefined, nowMs, cost);
    case "leaky_bucket":
      return refundLeakyBucket(params, state as GcraState | undefined, nowMs, cost);
    case "fixed_window":
      return refundFixedWindow(params, state as FixedWindowState | undefined, nowMs, cost);
    case "sliding_window":
      return refundSlidingWindow(params, state as SlidingLogState | undefined, nowMs, cost);
    case "sliding_window_counter":
      return refundSlidingWindowCounter(params, state as SlidingCounterState | undefined, nowMs, cost);
  }
}
