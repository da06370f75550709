/**
 * @module
 * The {@link Store} of a remote engine, written once: op validation, the closed state, the local over-limit
 * cache (and the synchronous `decideNow` it allows), the circuit breaker, the per-call time budget, the
 * store-clock estimates, refunds of decisions whose reply came too late, and the counters of `stats()`. Around
 * a {@link StoreDriver} that only encodes, sends and decodes.
 */

import { StoreError } from "../../errors.ts";
import { chargeAsRefund } from "../charge-ops.ts";
import type { BatchResult, OpResult, Store, StoreEngine, StoreOp } from "../store.ts";
import { type BreakerState, CircuitBreaker, type CircuitBreakerOptions } from "./breaker.ts";
import { withTimeout } from "./deadline.ts";
import type { StoreObserver } from "./observer.ts";
import { OverLimitCache, type OverLimitCacheOptions } from "./over-limit-cache.ts";
import { StoreClock } from "./store-clock.ts";
import type { GuardedCalls, StoreDriver, StoreTimes } from "./store-driver.ts";
import { toStoreError } from "./store-error.ts";
import { validateCosts, validateDecision, validateLeaseMs } from "./validate-ops.ts";

/** Counters of a guarded store, since it was created. */
export interface GuardedStoreStats {
  /**
   * Calls received (decide, peek, refund, reset, release, renew; each round trip of a clear), including those
   * answered locally.
   */
  readonly calls: number;
  /** Calls that failed with a store error (timeouts and fast failures of an open breaker included). */
  readonly errors: number;
  /** Decisions answered by the local over-limit cache, without a round trip. */
  readonly cacheHits: number;
  /**
   * Decisions whose "allowed" reply came after the call had timed out, and which were therefore given back
   * (refunded, leases released): their caller saw a store error.
   */
  readonly lateRefunds: number;
  /** The circuit breaker's state now. */
  readonly breaker: BreakerState;
}

/** How a guarded store protects its callers. */
export interface GuardSettings {
  /** The store's id in the config. */
  readonly id: string;
  readonly engine: Exclude<StoreEngine, "memory">;
  /** The time budget of one call (ms); `0` or `Infinity` for none. */
  readonly timeoutMs: number;
  /** Circuit breaker settings. */
  readonly breaker?: CircuitBreakerOptions | undefined;
  /** Over-limit cache settings, or `false` to turn the cache off. */
  readonly overLimitCache?: OverLimitCacheOptions | false | undefined;
}

/** Attaches an observer (see {@link observeStore}); set by the class's static block. */
let attach: (store: GuardedStore<StoreDriver>, observer: StoreObserver | undefined) => void;

/**
 * A {@link Store} around a {@link StoreDriver}. The Redis and PostgreSQL stores are this class built with their
 * driver.
 */
export class GuardedStore<D extends StoreDriver> implements Store {
  readonly id: string;
  readonly engine: Exclude<StoreEngine, "memory">;
  /** The engine's driver, for the subclass's own operations (connect now, sweep now). */
  protected readonly driver: D;
  readonly #timeoutMs: number;
  readonly #breaker: CircuitBreaker;
  readonly #cache: OverLimitCache | undefined;
  /** The store clock of a single server; parts beyond it (Cluster slots) in {@link #clocks}. */
  readonly #clock = new StoreClock();
  readonly #clocks = new Map<number, StoreClock>();
  #observer: StoreObserver | undefined;
  #closed = false;
  #calls = 0;
  #errors = 0;
  #cacheHits = 0;
  #lateRefunds = 0;

  static {
    attach = (store, observer) => {
      store.#observer = observer;
    };
  }

  constructor(settings: GuardSettings, makeDriver: (calls: GuardedCalls) => D) {
    this.id = settings.id;
    this.engine = settings.engine;
    this.#timeoutMs = settings.timeoutMs;
    this.#breaker = new CircuitBreaker(settings.id, settings.breaker);
    this.#cache = settings.overLimitCache === false ? undefined : new OverLimitCache(settings.overLimitCache);
    const store = this;
    this.driver = makeDriver({
      storeId: settings.id,
      timeoutMs: settings.timeoutMs,
      get closed() {
        return store.#closed;
      },
      run: (action, send, onLate) => this.#run(action, send, onLate),
      failed: (error, action) => {
        this.#errors += 1;
        return toStoreError(this.id, error, action);
      },
      refundLate: (ops, refund) => this.#refundLate(ops, refund),
      forget: (ops) => this.#forget(ops),
      clock: (part) => this.#clockOf(part),
    });
  }

  /** Counters and the breaker state. */
  stats(): GuardedStoreStats {
    return {
      calls: this.#calls,
      errors: this.#errors,
      cacheHits: this.#cacheHits,
      lateRefunds: this.#lateRefunds,
      breaker: this.#breaker.state,
    };
  }

  /**
   * A denial the local over-limit cache already knows, answered without a promise; `undefined` for anything
   * that needs the store (then use {@link decide}).
   */
  decideNow(ops: readonly StoreOp[], maxWaitMs: number): BatchResult | undefined {
    if (this.#closed) return undefined;
    const batch = this.#cache?.answerBatch(ops, maxWaitMs);
    if (batch !== undefined) {
      this.#calls += 1;
      this.#cacheHits += 1;
      this.#observer?.decided?.(ops, batch, []);
    }
    return batch;
  }

  async decide(ops: readonly StoreOp[], maxWaitMs: number): Promise<BatchResult> {
    validateDecision(ops, maxWaitMs);
    if (ops.length === 0) return { allowed: true, results: [] };
    const cache = this.#cache;
    const observer = this.#observer;
    const cached = cache?.answer(ops, maxWaitMs);
    if (cached !== undefined) {
      this.#calls += 1;
      this.#cacheHits += 1;
      const batch: BatchResult = { allowed: false, results: [cached] };
      observer?.decided?.(ops, batch, []);
      return batch;
    }
    const sentAt = cache?.now() ?? 0;
    const times = observedTimes(observer?.decided);
    const batch = await this.driver.decide(ops, maxWaitMs, times);
    cache?.learn(ops, batch.results, sentAt);
    if (times !== undefined) observer?.decided?.(ops, batch, times);
    return batch;
  }

  async peek(op: StoreOp): Promise<OpResult> {
    validateCosts([op]);
    const times = observedTimes(this.#observer?.peeked);
    const result = await this.driver.peek(op, times);
    if (times !== undefined) this.#observer?.peeked?.(op, result, times);
    return result;
  }

  async refund(ops: readonly StoreOp[]): Promise<void> {
    validateCosts(ops);
    if (ops.length === 0) return;
    this.#forget(ops);
    const times = observedTimes(this.#observer?.refunded);
    await this.driver.refund(ops, times);
    if (times !== undefined) this.#observer?.refunded?.(ops, times);
  }

  async charge(ops: readonly StoreOp[]): Promise<void> {
    const refunds = chargeAsRefund(ops);
    if (refunds.length === 0) return;
    // A charge only makes denials likelier, but a cached one would carry the retry hint of before the debt.
    this.#forget(refunds);
    const times = observedTimes(this.#observer?.charged);
    await this.driver.refund(refunds, times);
    if (times !== undefined) this.#observer?.charged?.(ops, times);
  }

  reset(limiterId: string, key: string): Promise<void> {
    this.#cache?.forget(limiterId, key);
    return this.driver.reset(limiterId, key);
  }

  async clear(limiterId: string): Promise<number> {
    // Before and after: a denial learned from a decision answered while the clear ran describes state it removed.
    this.#cache?.forgetLimiter(limiterId);
    try {
      return await this.driver.clear(limiterId);
    } finally {
      this.#cache?.forgetLimiter(limiterId);
    }
  }

  keyCount(limiterId: string): Promise<number | undefined> {
    return this.driver.keyCount(limiterId);
  }

  release(limiterId: string, key: string, leaseId: string): Promise<void> {
    this.#cache?.forget(limiterId, key);
    return this.driver.release(limiterId, key, leaseId);
  }

  async renew(limiterId: string, key: string, leaseId: string, leaseMs: number): Promise<boolean> {
    validateLeaseMs(leaseMs);
    return this.driver.renew(limiterId, key, leaseId, leaseMs);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#cache?.clear();
    await this.driver.close();
  }

  /** See {@link GuardedCalls.run}: counted, closed check, driver loaded outside the breaker, then sent. */
  async #run<T>(
    action: string,
    send: (signal: AbortSignal | undefined) => Promise<T>,
    onLate: ((value: T) => void) | undefined,
  ): Promise<T> {
    this.#calls += 1;
    if (this.#closed) {
      this.#errors += 1;
      throw new StoreError(this.id, `${action} failed: the store is closed`);
    }
    try {
      await this.driver.prepare();
    } catch (error) {
      // Counted, but kept from the breaker: a missing package is not an outage.
      this.#errors += 1;
      throw toStoreError(this.id, error, action);
    }
    return this.#send(action, send, onLate);
  }

  /** Through the breaker and the time budget; a failure is counted and reported to the driver. */
  async #send<T>(
    action: string,
    send: (signal: AbortSignal | undefined) => Promise<T>,
    onLate: ((value: T) => void) | undefined,
  ): Promise<T> {
    const driver = this.driver;
    let ran = false;
    try {
      return await this.#breaker.run(() => {
        ran = true;
        if (!driver.cancels) return withTimeout(send(undefined), this.#timeoutMs, this.id, action, onLate);
        const controller = new AbortController();
        return withTimeout(send(controller.signal), this.#timeoutMs, this.id, action, onLate).catch(
          (error: unknown) => {
            // Past the budget: the driver drops or cancels what it still has in hand.
            controller.abort();
            throw error;
          },
        );
      });
    } catch (error) {
      this.#errors += 1;
      if (ran) driver.afterFailure?.(this.#breaker.state !== "closed");
      throw toStoreError(this.id, error, action);
    }
  }

  #refundLate(ops: readonly StoreOp[], refund: () => Promise<unknown>): void {
    this.#lateRefunds += 1;
    if (this.#closed) return;
    this.#forget(ops);
    // Around the breaker: late replies come exactly when it has just opened, and this refund must not be failed
    // fast. Best effort: if the store fails again now, leases still expire at their lease time.
    let sent: Promise<unknown>;
    try {
      sent = refund();
    } catch {
      return;
    }
    withTimeout(sent, this.#timeoutMs, this.id, "refund").catch(() => {});
  }

  #forget(ops: readonly StoreOp[]): void {
    const cache = this.#cache;
    if (cache !== undefined) for (const op of ops) cache.forget(op.limiterId, op.key);
  }

  #clockOf(part: number): StoreClock {
    if (part === 0) return this.#clock;
    let clock = this.#clocks.get(part);
    if (clock === undefined) {
      clock = new StoreClock();
      this.#clocks.set(part, clock);
    }
    return clock;
  }
}

/** A fresh list for the store times of a call when `callback` will receive them, else none. */
function observedTimes(callback: unknown): StoreTimes | undefined {
  return callback === undefined ? undefined : [];
}

/**
 * Attaches an observer to a guarded store: it receives every answered call with the store time it was made at
 * (see {@link StoreObserver}); `undefined` detaches it. An internal hook: neither the store classes nor their
 * options expose it.
 */
export function observeStore(store: GuardedStore<StoreDriver>, observer: StoreObserver | undefined): void {
  attach(store, observer);
}
