/**
 * @module
 * What a call's deadline is on a remote store's own clock, estimated from the store's replies.
 */

import { type MonotonicClock, monotonicNow } from "./monotonic.ts";

/** How long one span of {@link StoreClock} samples lasts (ms): the estimate forgets samples older than two. */
const CLOCK_SPAN_MS = 5_000;

/**
 * What a store call's deadline is on the store's own clock, learnt from the store's replies. A remote store
 * decides with its clock (Redis `TIME`, PostgreSQL `clock_timestamp()`), which need not agree with ours, so a
 * deadline is sent as "our deadline + offset", where the offset is a **lower bound** of (store clock − our
 * monotonic clock): every reply carries the store's time `S` of the decision, read before we receive the reply at
 * our time `R`, so `S − R` can only be smaller than the true offset. The largest recent sample is the tightest
 * such bound. A lower bound errs on the early side: the store refuses a call a little before our own timer
 * would fire (by at most the reply's transit time of that best sample), never after it, so work the caller
 * will see as a timeout is not applied.
 *
 * Samples older than two spans of {@link CLOCK_SPAN_MS} are forgotten (while replies keep coming), so a store
 * clock stepped back converges within about 10 s; until then the store may apply calls arriving up to that step
 * late (a late reply is still refunded). Before the first reply there is no estimate and no deadline is sent.
 *
 * @example
 * ```ts
 * const sentAt = performance.now();
 * const deadline = clock.deadline(sentAt + timeoutMs); // send with the call (undefined: none yet)
 * // … on the reply:
 * clock.observe(storeNowMs, performance.now());
 * ```
 */
export class StoreClock {
  readonly #now: MonotonicClock;
  /** Best sample of the current span, of the previous span (`-Infinity`: none). */
  #current = Number.NEGATIVE_INFINITY;
  #previous = Number.NEGATIVE_INFINITY;
  #spanStart: number;

  constructor(now: MonotonicClock = monotonicNow) {
    this.#now = now;
    this.#spanStart = now();
  }

  /** Our monotonic clock (ms): read it before sending, and after receiving. */
  now(): number {
    return this.#now();
  }

  /**
   * Records a reply: the store decided at `storeNowMs` (its clock, ms since the epoch) and we received the reply
   * at `receivedAtMs` (from {@link now}, read after the reply arrived).
   */
  observe(storeNowMs: number, receivedAtMs: number): void {
    if (!Number.isFinite(storeNowMs)) return;
    const sample = storeNowMs - receivedAtMs;
    if (receivedAtMs - this.#spanStart > CLOCK_SPAN_MS && this.#current > Number.NEGATIVE_INFINITY) {
      this.#previous = this.#current;
      this.#current = Number.NEGATIVE_INFINITY;
      this.#spanStart = receivedAtMs;
    }
    if (sample > this.#current) this.#current = sample;
  }

  /**
   * The store-clock time (ms since the epoch) matching our monotonic `localDeadlineMs`, rounded down; `undefined`
   * before any reply (no estimate yet).
   */
  deadline(localDeadlineMs: number): number | undefined {
    const offset = Math.max(this.#current, this.#previous);
    if (offset === Number.NEGATIVE_INFINITY || !Number.isFinite(localDeadlineMs)) return undefined;
    return Math.floor(localDeadlineMs + offset);
  }
}
