/**
 * @module
 * The circuit breaker: a dead store costs microseconds instead of the time budget of every call.
 */

import { StoreError } from "../../errors.ts";
import { type MonotonicClock, monotonicNow } from "./monotonic.ts";

/** The states of a {@link CircuitBreaker}. */
export type BreakerState = "closed" | "open" | "half-open";

/** Options of a {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker. @default 5 */
  readonly failureThreshold?: number;
  /**
   * The failures must all fall within this span (ms) to count as one streak; an old isolated failure does not
   * add up with a new one. @default 10_000
   */
  readonly failureWindowMs?: number;
  /** How long the breaker stays open before letting one probe through (ms). @default 1_000 */
  readonly coolDownMs?: number;
  /** Clock, for tests. @default performance.now */
  readonly now?: MonotonicClock;
}

/**
 * A circuit breaker: closed → open after `failureThreshold` consecutive failures within `failureWindowMs`;
 * while open every call fails at once with a {@link StoreError}; after `coolDownMs` it is half-open and lets a
 * single probe through, which closes it on success or re-opens it on failure.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker("main", { failureThreshold: 3, coolDownMs: 500 });
 * const value = await breaker.run(() => withTimeout(client.ping(), 1000, "main"));
 * ```
 */
export class CircuitBreaker {
  readonly #storeId: string;
  readonly #failureThreshold: number;
  readonly #failureWindowMs: number;
  readonly #coolDownMs: number;
  readonly #now: MonotonicClock;
  /** Failures in the current streak; reset by any success. */
  #failures = 0;
  /** When the current streak began (valid while `#failures > 0`). */
  #streakStartedAt = 0;
  /** When the breaker last opened; `undefined` while closed. */
  #openedAt: number | undefined;
  /** True while the single half-open probe is in flight, so no second call slips through. */
  #probing = false;

  constructor(storeId: string, options: CircuitBreakerOptions = {}) {
    this.#storeId = storeId;
    this.#failureThreshold = Math.max(1, options.failureThreshold ?? 5);
    this.#failureWindowMs = options.failureWindowMs ?? 10_000;
    this.#coolDownMs = options.coolDownMs ?? 1_000;
    this.#now = options.now ?? monotonicNow;
  }

  /** The current state, as of now (an open breaker whose cool-down has passed reports `half-open`). */
  get state(): BreakerState {
    if (this.#openedAt === undefined) return "closed";
    if (this.#probing || this.#now() - this.#openedAt >= this.#coolDownMs) return "half-open";
    return "open";
  }

  /**
   * Runs `call` unless the breaker is open, recording its success or failure. While open, rejects at once with
   * a {@link StoreError} and never calls `call`.
   */
  run<T>(call: () => Promise<T>): Promise<T> {
    // Not `async`: one promise per call instead of three. Measured (RateSync on Redis, 64 calls in flight,
    // interleaved with main in one process, 3 runs): 0.84× main's throughput with an async `run`, 0.97× without.
    let isProbe: boolean;
    let pending: Promise<T>;
    try {
      isProbe = this.#admit();
    } catch (error) {
      return Promise.reject(error);
    }
    try {
      pending = call();
    } catch (error) {
      pending = Promise.reject(error);
    }
    return pending.then(
      (value) => {
        if (isProbe) this.#probing = false;
        this.recordSuccess();
        return value;
      },
      (error: unknown) => {
        if (isProbe) this.#probing = false;
        this.recordFailure();
        throw error;
      },
    );
  }

  /** Records a success: closes the breaker and ends any failure streak. */
  recordSuccess(): void {
    this.#failures = 0;
    this.#openedAt = undefined;
  }

  /** Records a failure: extends the streak, and opens (or re-opens) the breaker when it is long enough. */
  recordFailure(): void {
    const now = this.#now();
    if (this.#openedAt !== undefined) {
      // A failed probe (or a call admitted before the breaker opened) restarts the cool-down.
      this.#openedAt = now;
      return;
    }
    if (this.#failures === 0 || now - this.#streakStartedAt > this.#failureWindowMs) {
      this.#failures = 0;
      this.#streakStartedAt = now;
    }
    this.#failures += 1;
    if (this.#failures >= this.#failureThreshold) this.#openedAt = now;
  }

  /** Throws when the call may not go through; returns true when it is the half-open probe. */
  #admit(): boolean {
    if (this.#openedAt === undefined) return false;
    if (!this.#probing && this.#now() - this.#openedAt >= this.#coolDownMs) {
      this.#probing = true;
      return true;
    }
    throw new StoreError(this.#storeId, "circuit breaker is open after repeated failures; failing fast");
  }
}
