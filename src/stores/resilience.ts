/**
 * @module
 * What keeps a remote store from hurting its callers when it is slow or down: a per-call time budget
 * ({@link withTimeout}, one shared timer per budget length rather than one per call), a circuit breaker that makes a dead store cost microseconds instead of the budget
 * ({@link CircuitBreaker}), and a local cache of recent denials that answers floods of over-limit calls without a
 * round trip ({@link OverLimitCache}). Shared by the Redis and PostgreSQL stores.
 *
 * None of these keeps a process alive: the breaker and the cache compare timestamps, and the budget's shared timer
 * is unref'd and armed only while calls are in flight, so an idle process can exit and tests need no fake timers.
 */

import type { LimitParams } from "../algorithms/types.ts";
import { TIME_EPSILON_MS } from "../algorithms/types.ts";
import { StoreError, StoreUnavailableError } from "../errors.ts";
import type { BatchResult, OpResult, StoreOp } from "./store.ts";

/** A monotonic clock in milliseconds (not wall time: breaker and cache spans must not jump with NTP). */
export type MonotonicClock = () => number;

const monotonicNow: MonotonicClock = () => performance.now();

/**
 * Replaces the password of every URL in `text` with `***`, so driver messages that echo a connection string
 * never leak it.
 *
 * @example maskSecrets("connect redis://app:s3cret@db:6379 failed") // "connect redis://app:***@db:6379 failed"
 */
export function maskSecrets(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):[^@\s]*@/gi, "$1:***@");
}

/**
 * Turns anything a driver threw into a {@link StoreError} naming the store and what was being done, with the
 * secrets masked. A `StoreError` or {@link StoreUnavailableError} passes through unchanged.
 */
export function toStoreError(
  storeId: string,
  error: unknown,
  action: string,
): StoreError | StoreUnavailableError {
  if (error instanceof StoreError || error instanceof StoreUnavailableError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new StoreError(storeId, `${action} failed: ${maskSecrets(detail)}`);
}

/** A call waiting for its reply, in a {@link DeadlineQueue}. */
interface Deadline {
  /** Monotonic time (ms) at which the call times out. */
  readonly at: number;
  /** True once the call settled (or timed out): the queue only skips it. */
  done: boolean;
  /** Rejects the call. Plain data rather than a closure: nothing more is allocated per call than this entry. */
  readonly reject: (error: unknown) => void;
  readonly storeId: string;
  readonly action: string;
  readonly ms: number;
}

/**
 * The calls in flight under one time budget, oldest first, watched by one timer. Every call of a budget gets the
 * same length, so deadlines come in the order calls start and only the head needs checking: per call, an entry
 * and a flag instead of a timer set and cleared. The timer is unref'd (a call in flight keeps the process alive
 * through its socket) and armed only while calls are in flight.
 */
class DeadlineQueue {
  readonly #entries: Deadline[] = [];
  /** Index of the oldest entry that may still be pending. */
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #onTimer = (): void => this.#expireDue();

  add(entry: Deadline): void {
    this.#entries.push(entry);
    if (this.#timer === undefined) this.#arm(entry.at);
  }

  /** Marks `entry` settled and drops settled entries from the head (replies mostly arrive in order). */
  settle(entry: Deadline): void {
    entry.done = true;
    const entries = this.#entries;
    while (this.#head < entries.length && entries[this.#head]!.done) this.#head++;
    if (this.#head === entries.length) {
      entries.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > entries.length) {
      entries.splice(0, this.#head);
      this.#head = 0;
    }
  }

  #arm(at: number): void {
    this.#timer = setTimeout(this.#onTimer, Math.max(0, at - monotonicNow()));
    this.#timer.unref?.();
  }

  #expireDue(): void {
    this.#timer = undefined;
    const now = monotonicNow();
    const entries = this.#entries;
    while (this.#head < entries.length) {
      const entry = entries[this.#head]!;
      if (!entry.done) {
        if (entry.at > now) break;
        entry.done = true;
        entry.reject(new StoreError(entry.storeId, `${entry.action} timed out after ${entry.ms} ms`));
      }
      this.#head++;
    }
    if (this.#head === entries.length) {
      entries.length = 0;
      this.#head = 0;
      return;
    }
    this.#arm(entries[this.#head]!.at);
  }
}

/** One queue per budget length (a process has one or two: one per store `timeout`). */
const deadlineQueues = new Map<number, DeadlineQueue>();

/**
 * Settles like `promise`, or rejects with a {@link StoreError} once `ms` have passed. A late settlement of
 * `promise` is swallowed (never an unhandled rejection); a late *value* is handed to `onLate`, so the caller can
 * undo what the store did for a call its own caller already saw fail (see {@link StoreClock}).
 *
 * @param ms The budget; `Infinity` or a non-positive value disables the timeout.
 * @param onLate Called with the value of `promise` when it fulfils after the budget ran out.
 * @example await withTimeout(client.get(key), config.timeoutMs, config.id)
 */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  storeId: string,
  action = "call",
  onLate?: (value: T) => void,
): Promise<T> {
  if (!(ms > 0) || !Number.isFinite(ms)) return promise;
  let queue = deadlineQueues.get(ms);
  if (queue === undefined) {
    queue = new DeadlineQueue();
    deadlineQueues.set(ms, queue);
  }
  const watched = queue;
  return new Promise<T>((resolve, reject) => {
    const entry: Deadline = { at: monotonicNow() + ms, done: false, reject, storeId, action, ms };
    watched.add(entry);
    // Once the timeout has won, a later settlement of `promise` lands here and goes nowhere.
    promise.then(
      (value) => {
        if (entry.done) {
          onLate?.(value);
          return;
        }
        watched.settle(entry);
        resolve(value);
      },
      (error: unknown) => {
        if (entry.done) return;
        watched.settle(entry);
        reject(error);
      },
    );
  });
}

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
    // Not `async`: one promise per call instead of three, on every store call.
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

/** Options of an {@link OverLimitCache}. */
export interface OverLimitCacheOptions {
  /** Most keys remembered; past it the oldest entry is dropped. @default 10_000 */
  readonly maxEntries?: number;
  /** Clock, for tests. @default performance.now */
  readonly now?: MonotonicClock;
}

interface Denial {
  /** Smallest cost known to be denied. */
  readonly cost: number;
  /** Local monotonic time until which that cost (and any larger one) is denied. */
  readonly untilMs: number;
  /** The store's answer, replayed with an updated `retryAfterMs`. */
  readonly result: OpResult;
}

/**
 * A fingerprint of everything that changes what a denial means: the state tag plus the capacity and rate. A
 * reload that raises a limit therefore never hits a denial cached under the old limit.
 */
/** Fingerprints already computed, per params object (a limiter's params object is reused call after call). */
const fingerprints = new WeakMap<LimitParams, string>();

function paramsFingerprint(params: LimitParams): string {
  let fingerprint = fingerprints.get(params);
  if (fingerprint === undefined) {
    fingerprint = computeFingerprint(params);
    fingerprints.set(params, fingerprint);
  }
  return fingerprint;
}

function computeFingerprint(params: LimitParams): string {
  switch (params.kind) {
    case "token_bucket":
    case "leaky_bucket":
      return `${params.kind}/${params.intervalMs}/${params.burst}`;
    case "fixed_window":
    case "sliding_window":
    case "sliding_window_counter":
      return `${params.kind}/${params.windowMs}/${params.limit}`;
    case "concurrency":
      return `${params.kind}/${params.maxConcurrent}/${params.leaseMs}`;
  }
}

/**
 * Remembers recent denials of single-member rate decisions, so a flood of calls that the store would deny is
 * denied locally without a round trip.
 *
 * Safety argument (why it never denies what the store would allow): a denial of cost `c` with a finite
 * `retryAfterMs` means the same call cannot pass before that time unless state is given back. Other callers
 * only consume more, and a larger cost needs at least as long. So a call with cost `>= c` before the deadline
 * is denied, provided: the deadline is measured from when the request was **sent** (earlier than the store's
 * decision); a call willing to wait at least the remaining time goes to the store (it could reserve); refund,
 * reset and release on the key forget its denials; and the params are part of the identity (a reload that
 * raises a limit starts fresh). Concurrency denials are never cached: a release elsewhere frees a slot at once.
 *
 * @example
 * ```ts
 * const cached = cache.check(op, maxWaitMs);
 * if (cached) return cached; // denied locally, fromCache: true
 * ```
 */
export class OverLimitCache {
  readonly #maxEntries: number;
  readonly #now: MonotonicClock;
  /** `[limiterId, key]` (JSON, injective) → params fingerprint → denial. Insertion order = age, for eviction. */
  readonly #entries = new Map<string, Map<string, Denial>>();
  #size = 0;
  /** The last name built, and what it was built from: a flood asks about one key over and over. */
  #lastLimiterId = "";
  #lastKey = "";
  #lastName = keyOf("", "");

  constructor(options: OverLimitCacheOptions = {}) {
    this.#maxEntries = Math.max(1, options.maxEntries ?? 10_000);
    this.#now = options.now ?? monotonicNow;
  }

  /** Number of denials remembered (expired ones included until they are looked up or evicted). */
  get size(): number {
    return this.#size;
  }

  /** The local clock the cache measures deadlines with; read it just before sending a request. */
  now(): number {
    return this.#now();
  }

  /**
   * A local denial for `op`, or `undefined` when the store must be asked.
   *
   * @param maxWaitMs The caller's reservation budget: a caller willing to wait out the denial goes to the store.
   */
  check(
    op: {
      readonly limiterId: string;
      readonly key: string;
      readonly params: LimitParams;
      readonly cost: number;
    },
    maxWaitMs: number,
  ): OpResult | undefined {
    const perKey = this.#entries.get(this.#nameOf(op.limiterId, op.key));
    if (perKey === undefined) return undefined;
    const fingerprint = paramsFingerprint(op.params);
    const denial = perKey.get(fingerprint);
    if (denial === undefined) return undefined;
    const remainingMs = denial.untilMs - this.#now();
    if (remainingMs <= TIME_EPSILON_MS) {
      this.#delete(op.limiterId, op.key, fingerprint);
      return undefined;
    }
    if (op.cost < denial.cost || remainingMs <= maxWaitMs) return undefined;
    // A literal rather than a spread: this is the whole cost of a cached denial, paid on every call of a flood.
    const { limit, remaining, resetAfterMs } = denial.result;
    return {
      allowed: false,
      limit,
      remaining,
      resetAfterMs,
      retryAfterMs: remainingMs,
      waitMs: 0,
      fromCache: true,
    };
  }

  /**
   * The local answer to a whole decision, if the cache has one: only single-member decisions are cached (a
   * composite's all-or-nothing outcome depends on every member, so it always goes to the store).
   */
  answer(ops: readonly StoreOp[], maxWaitMs: number): OpResult | undefined {
    return ops.length === 1 ? this.check(ops[0]!, maxWaitMs) : undefined;
  }

  /**
   * {@link answer} as a whole decision, for a store's synchronous `decideNow`: `undefined` unless the cache
   * denies, and for anything the store would reject (a bad cost or budget), so the store's own call reports it.
   */
  answerBatch(ops: readonly StoreOp[], maxWaitMs: number): BatchResult | undefined {
    if (ops.length !== 1 || !(maxWaitMs >= 0)) return undefined;
    const cost = ops[0]!.cost;
    if (!(cost > 0) || !Number.isFinite(cost)) return undefined;
    const cached = this.check(ops[0]!, maxWaitMs);
    return cached === undefined ? undefined : { allowed: false, results: [cached] };
  }

  /** Records what the store said to a single-member decision sent at `sentAtMs` (only a denial is kept). */
  learn(ops: readonly StoreOp[], results: readonly OpResult[], sentAtMs: number): void {
    const result = results[0];
    if (ops.length === 1 && result !== undefined) this.remember(ops[0]!, result, sentAtMs);
  }

  /**
   * Records the store's denial of `op`.
   *
   * @param sentAtMs Local time (from {@link now}) read just **before** the request was sent.
   */
  remember(
    op: {
      readonly limiterId: string;
      readonly key: string;
      readonly params: LimitParams;
      readonly cost: number;
    },
    result: OpResult,
    sentAtMs: number,
  ): void {
    if (op.params.kind === "concurrency" || result.allowed || !Number.isFinite(result.retryAfterMs)) return;
    if (result.retryAfterMs <= TIME_EPSILON_MS) return;
    const id = this.#nameOf(op.limiterId, op.key);
    const fingerprint = paramsFingerprint(op.params);
    const untilMs = sentAtMs + result.retryAfterMs;
    let perKey = this.#entries.get(id);
    const previous = perKey?.get(fingerprint);
    // Keep the more useful of two denials: a smaller cost covers more calls. Never extend a deadline beyond
    // what the denial of that cost proves.
    if (previous !== undefined && previous.untilMs > this.#now() && previous.cost < op.cost) return;
    if (perKey === undefined) {
      perKey = new Map();
    } else {
      // Re-insert to mark it young for eviction.
      this.#entries.delete(id);
    }
    this.#entries.set(id, perKey);
    if (previous === undefined) this.#size += 1;
    perKey.set(fingerprint, { cost: op.cost, untilMs, result });
    while (this.#size > this.#maxEntries) this.#evictOldest();
  }

  /** Forgets every denial of a key under a limiter (after reset, refund or release). */
  forget(limiterId: string, key: string): void {
    const id = this.#nameOf(limiterId, key);
    const perKey = this.#entries.get(id);
    if (perKey === undefined) return;
    this.#size -= perKey.size;
    this.#entries.delete(id);
  }

  /** Forgets everything. */
  clear(): void {
    this.#entries.clear();
    this.#size = 0;
  }

  /**
   * {@link keyOf}, remembering the last one: a flood repeats one key, and reusing the name spares building a
   * string and hashing it anew on every call.
   */
  #nameOf(limiterId: string, key: string): string {
    if (key === this.#lastKey && limiterId === this.#lastLimiterId) return this.#lastName;
    const name = keyOf(limiterId, key);
    this.#lastLimiterId = limiterId;
    this.#lastKey = key;
    this.#lastName = name;
    return name;
  }

  #delete(limiterId: string, key: string, fingerprint: string): void {
    const id = this.#nameOf(limiterId, key);
    const perKey = this.#entries.get(id);
    if (perKey?.delete(fingerprint)) {
      this.#size -= 1;
      if (perKey.size === 0) this.#entries.delete(id);
    }
  }

  #evictOldest(): void {
    const oldest = this.#entries.entries().next();
    if (oldest.done) return;
    const [id, perKey] = oldest.value;
    this.#size -= perKey.size;
    this.#entries.delete(id);
  }
}

/**
 * The cache's name of `(limiterId, key)`: the length of the limiter id says where it ends, so two different
 * pairs never share a name whatever characters they hold (and no escaping is needed, unlike JSON).
 */
function keyOf(limiterId: string, key: string): string {
  return `${limiterId.length}:${limiterId}:${key}`;
}
