/**
 * @module
 * A local cache of recent denials that answers floods of over-limit calls without a round trip. It compares
 * timestamps only: no timer keeps a process alive.
 */

import { fingerprint as computeFingerprint } from "../../algorithms/registry.ts";
import type { LimitParams } from "../../algorithms/types.ts";
import { TIME_EPSILON_MS } from "../../algorithms/types.ts";
import type { BatchResult, OpResult, StoreOp } from "../store.ts";
import { type MonotonicClock, monotonicNow } from "./monotonic.ts";

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
 * Fingerprints already computed, per params object (a limiter's params object is reused call after call).
 * Measured: a cached denial costs 125 ns with it, 530 ns when the fingerprint string is built on every call.
 */
const fingerprints = new WeakMap<LimitParams, string>();

function paramsFingerprint(params: LimitParams): string {
  let fingerprint = fingerprints.get(params);
  if (fingerprint === undefined) {
    fingerprint = computeFingerprint(params);
    fingerprints.set(params, fingerprint);
  }
  return fingerprint;
}

/**
 * A cached denial of a blocked key: the block goes on until the denial's deadline (its `retryAfterMs` was the
 * time left in the block), reported as a block the call ran into.
 */
function blockedFromCache(result: OpResult, remainingMs: number): OpResult {
  return {
    allowed: false,
    limit: result.limit,
    remaining: 0,
    resetAfterMs: remainingMs,
    retryAfterMs: remainingMs,
    waitMs: 0,
    fromCache: true,
    block: { started: false, count: result.block?.count ?? 1, leftMs: remainingMs },
  };
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
  /**
   * The last name built, and what it was built from: a flood asks about one key over and over. Measured: a
   * cached denial costs 160 ns with it, 540 ns without (the string built and hashed anew on every call), and
   * the Redis denied flood drops from 3.0× to 1.9× rate-limiter-flexible's inMemoryBlock (quick bench).
   */
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
    const { limit, remaining, resetAfterMs, block } = denial.result;
    if (block !== undefined) return blockedFromCache(denial.result, remainingMs);
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

  /**
   * Forgets every denial of every key under a limiter (after `clear`). Walks the cache, which is bounded by
   * `maxEntries`: names start with the limiter id's length and the id, so the prefix matches that limiter only.
   */
  forgetLimiter(limiterId: string): void {
    const start = keyOf(limiterId, "");
    for (const [id, perKey] of this.#entries) {
      if (!id.startsWith(start)) continue;
      this.#size -= perKey.size;
      this.#entries.delete(id);
    }
  }

  /** Forgets everything. */
  clear(): void {
    this.#entries.clear();
    this.#size = 0;
  }

  /** {@link keyOf}, remembering the last one (see {@link #lastName}). */
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
