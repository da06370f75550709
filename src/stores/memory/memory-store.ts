/**
 * @module
 * The in-process store: state in one `Map`, decisions computed synchronously by the pure algorithms (so a
 * composite decision is atomic within the process), no per-key timers.
 *
 * Layout: rate state under `limiterId \0 stateTag \0 key`, lease sets under `limiterId \0 cc \0 key` (the tag of
 * concurrency is `cc`). Each entry carries its expiry (now + the TTL the algorithm reports). Expired entries are
 * ignored on read and swept lazily: every write advances a cursor over the map by a couple of entries, deleting
 * expired ones, so cleanup is amortized O(1) per call and never a full scan. The map's insertion order doubles as
 * the LRU order (an entry is re-inserted on every write); past `maxKeys` the least recently written entry goes.
 */

import { acquireLease, peekConcurrency, releaseLease, renewLease } from "../../algorithms/concurrency.ts";
import { decide, peek, refund } from "../../algorithms/index.ts";
import type { ConcurrencyState, Outcome, PeekOutcome } from "../../algorithms/types.ts";
import { InvalidArgumentError, StoreError } from "../../errors.ts";
import { type BatchResult, type OpResult, type Store, type StoreOp, stateTag } from "../store.ts";

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * The store's id in the config.
   * @default "memory"
   */
  readonly id?: string;
  /**
   * Most entries (rate states plus lease sets) kept at once; past it the least recently written is dropped
   * and counted in `stats().evictions`. Dropping state only ever forgets usage, so it can admit more, never less.
   * @default 1_000_000
   */
  readonly maxKeys?: number;
  /**
   * The clock, in epoch milliseconds. Injectable for tests.
   * @default a monotonic clock aligned to the epoch: `performance.timeOrigin + performance.now()`
   */
  readonly now?: () => number;
}

/** Counters for metrics. */
export interface MemoryStoreStats {
  /** Entries held, including expired ones not swept yet. */
  readonly keys: number;
  /** Entries dropped because `maxKeys` was reached. */
  readonly evictions: number;
}

/** One stored value. Mutated in place on write so the hot path allocates no new entry for a known key. */
interface Entry {
  /** The map key, kept so the sweep (which walks values) can delete the entry. */
  readonly key: string;
  value: unknown;
  /** Epoch ms after which `value` no longer constrains anything. */
  expiresAt: number;
}

/** Entries examined per write by the lazy sweep: enough to outpace the writes that create entries. */
const SWEEP_STEP = 2;

/** Default bound on entries. */
const DEFAULT_MAX_KEYS = 1_000_000;

const timeOrigin = performance.timeOrigin;
/** Monotonic (immune to wall-clock steps) yet epoch-aligned, so fixed windows still align to the epoch. */
const monotonicNow = (): number => timeOrigin + performance.now();

/**
 * A {@link Store} that keeps state in this process.
 *
 * @example
 * ```ts
 * const store = new MemoryStore({ maxKeys: 100_000 });
 * const params = { kind: "token_bucket", intervalMs: 100, burst: 10 } as const;
 * const { allowed } = await store.decide([{ limiterId: "api", key: "user-1", params, cost: 1 }], 0);
 * ```
 */
export class MemoryStore implements Store {
  readonly id: string;
  readonly engine = "memory" as const;

  /** Every entry, least recently written first (the LRU order `maxKeys` evicts by). */
  readonly #entries = new Map<string, Entry>();
  /**
   * Tags ever used per limiter id, so `reset` can find every state of a key without scanning the map. Tiny: one
   * or two tags per limiter (a new one only when a reload changes the algorithm or the window).
   */
  readonly #tags = new Map<string, Set<string>>();
  readonly #maxKeys: number;
  readonly #now: () => number;
  /** Where the lazy sweep resumes; `undefined` starts a new pass. A live Map iterator survives deletes. */
  #cursor: MapIterator<Entry> | undefined;
  #evictions = 0;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    if (!Number.isInteger(maxKeys) || maxKeys < 1) {
      throw new InvalidArgumentError(`maxKeys must be a positive integer, got ${String(maxKeys)}`);
    }
    this.id = options.id ?? "memory";
    this.#maxKeys = maxKeys;
    this.#now = options.now ?? monotonicNow;
  }

  /** Entry count and evictions, for metrics. */
  stats(): MemoryStoreStats {
    return { keys: this.#entries.size, evictions: this.#evictions };
  }

  decide(ops: readonly StoreOp[], maxWaitMs: number): Promise<BatchResult> {
    try {
      return Promise.resolve(this.#decide(ops, maxWaitMs));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  peek(op: StoreOp): Promise<OpResult> {
    try {
      this.#checkOpen();
      const now = this.#now();
      const state = this.#read(keyOf(op), now);
      let view: PeekOutcome;
      let dryRun: Outcome<unknown>;
      if (op.params.kind === "concurrency") {
        const leases = state as ConcurrencyState | undefined;
        view = peekConcurrency(op.params, leases, now);
        dryRun = acquireLease(op.params, leases, now, "");
      } else {
        view = peek(op.params, state, now);
        dryRun = decide(op.params, { state, nowMs: now, cost: op.cost, maxWaitMs: 0 });
      }
      // Counts from peek (nothing consumed); whether the call would pass, and when, from a decision not applied.
      return Promise.resolve({
        allowed: dryRun.allowed,
        limit: view.limit,
        remaining: view.remaining,
        resetAfterMs: view.resetAfterMs,
        retryAfterMs: dryRun.retryAfterMs,
        waitMs: 0,
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  refund(ops: readonly StoreOp[]): Promise<void> {
    try {
      this.#checkOpen();
      const now = this.#now();
      for (const op of ops) {
        const key = keyOf(op);
        const state = this.#read(key, now);
        if (op.params.kind === "concurrency") {
          if (op.leaseId === undefined) continue;
          const after = releaseLease(state as ConcurrencyState | undefined, now, op.leaseId);
          this.#write(key, op.limiterId, "cc", after.state, after.ttlMs, now);
        } else {
          const after = refund(op.params, state, now, op.cost);
          this.#write(key, op.limiterId, stateTag(op.params), after.state, after.ttlMs, now);
        }
      }
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  reset(limiterId: string, key: string): Promise<void> {
    try {
      this.#checkOpen();
      const tags = this.#tags.get(limiterId);
      if (tags !== undefined) for (const tag of tags) this.#entries.delete(`${limiterId}\0${tag}\0${key}`);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  release(limiterId: string, key: string, leaseId: string): Promise<void> {
    try {
      this.#checkOpen();
      const now = this.#now();
      const storeKey = leaseKeyOf(limiterId, key);
      const entry = this.#entries.get(storeKey);
      // Idempotent: nothing stored (or only expired leases) means nothing to release.
      if (entry !== undefined && entry.expiresAt > now) {
        const after = releaseLease(entry.value as ConcurrencyState, now, leaseId);
        this.#write(storeKey, limiterId, "cc", after.state, after.ttlMs, now);
      }
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  renew(limiterId: string, key: string, leaseId: string, leaseMs: number): Promise<boolean> {
    try {
      this.#checkOpen();
      const now = this.#now();
      const storeKey = leaseKeyOf(limiterId, key);
      const after = renewLease(
        this.#read(storeKey, now) as ConcurrencyState | undefined,
        now,
        leaseId,
        leaseMs,
      );
      if (after.renewed) this.#write(storeKey, limiterId, "cc", after.state, after.ttlMs, now);
      return Promise.resolve(after.renewed);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Drops all state; later calls reject with a {@link StoreError}. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    this.#entries.clear();
    this.#tags.clear();
    this.#cursor = undefined;
    return Promise.resolve();
  }

  #decide(ops: readonly StoreOp[], maxWaitMs: number): BatchResult {
    this.#checkOpen();
    const now = this.#now();
    const count = ops.length;

    if (count === 1) {
      // The common case, without the bookkeeping a composite needs.
      const op = ops[0] as StoreOp;
      const key = keyOf(op);
      const outcome = this.#outcome(op, this.#read(key, now), now, maxWaitMs);
      if (outcome.allowed) this.#apply(op, key, outcome, now);
      return { allowed: outcome.allowed, results: [toResult(outcome)] };
    }

    // Composite: decide every member first, apply only if all are allowed. A member on the same state as an
    // earlier member sees the state that member would leave, as if they ran one after the other.
    const keys: string[] = new Array(count);
    const outcomes: Outcome<unknown>[] = new Array(count);
    const results: OpResult[] = new Array(count);
    let allowed = true;
    for (let i = 0; i < count; i++) {
      const op = ops[i] as StoreOp;
      const key = keyOf(op);
      let state: unknown;
      let chained = false;
      for (let j = i - 1; j >= 0; j--) {
        if (keys[j] === key) {
          state = (outcomes[j] as Outcome<unknown>).state;
          chained = true;
          break;
        }
      }
      if (!chained) state = this.#read(key, now);
      const outcome = this.#outcome(op, state, now, maxWaitMs);
      keys[i] = key;
      outcomes[i] = outcome;
      results[i] = toResult(outcome);
      if (!outcome.allowed) allowed = false;
    }
    if (allowed) {
      for (let i = 0; i < count; i++) {
        this.#apply(ops[i] as StoreOp, keys[i] as string, outcomes[i] as Outcome<unknown>, now);
      }
    }
    return { allowed, results };
  }

  #outcome(op: StoreOp, state: unknown, now: number, maxWaitMs: number): Outcome<unknown> {
    if (op.params.kind === "concurrency") {
      if (op.leaseId === undefined) {
        throw new InvalidArgumentError(`A concurrency decision needs a leaseId (limiter "${op.limiterId}")`);
      }
      return acquireLease(op.params, state as ConcurrencyState | undefined, now, op.leaseId);
    }
    return decide(op.params, { state, nowMs: now, cost: op.cost, maxWaitMs });
  }

  #apply(op: StoreOp, key: string, outcome: Outcome<unknown>, now: number): void {
    this.#write(key, op.limiterId, stateTag(op.params), outcome.state, outcome.ttlMs, now);
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreError(this.id, "the store is closed");
  }

  /** The live value under `key`, or `undefined` when absent or expired (an expired entry is deleted). */
  #read(key: string, now: number): unknown {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** Stores `value` for `ttlMs` (or deletes the entry when nothing is left), then sweeps a slice. */
  #write(key: string, limiterId: string, tag: string, value: unknown, ttlMs: number, now: number): void {
    const entries = this.#entries;
    const entry = entries.get(key);
    if (value === undefined || !(ttlMs > 0)) {
      if (entry !== undefined) entries.delete(key);
    } else if (entry !== undefined) {
      entry.value = value;
      entry.expiresAt = now + ttlMs;
      // Re-insert: the map's order is the LRU order.
      entries.delete(key);
      entries.set(key, entry);
    } else {
      entries.set(key, { key, value, expiresAt: now + ttlMs });
      this.#remember(limiterId, tag);
      if (entries.size > this.#maxKeys) this.#evict();
    }
    this.#sweep(now);
  }

  #remember(limiterId: string, tag: string): void {
    const tags = this.#tags.get(limiterId);
    if (tags === undefined) this.#tags.set(limiterId, new Set([tag]));
    else if (!tags.has(tag)) tags.add(tag);
  }

  /** Drops least recently written entries until the bound holds. */
  #evict(): void {
    const entries = this.#entries;
    while (entries.size > this.#maxKeys) {
      const oldest = entries.keys().next();
      if (oldest.done) return;
      entries.delete(oldest.value);
      this.#evictions++;
    }
  }

  /** Advances the sweep cursor by {@link SWEEP_STEP} entries, deleting expired ones. */
  #sweep(now: number): void {
    for (let i = 0; i < SWEEP_STEP; i++) {
      if (this.#cursor === undefined) this.#cursor = this.#entries.values();
      const next = this.#cursor.next();
      if (next.done) {
        // End of a pass: the next write starts another one.
        this.#cursor = undefined;
        return;
      }
      if (next.value.expiresAt <= now) this.#entries.delete(next.value.key);
    }
  }
}

function keyOf(op: StoreOp): string {
  return `${op.limiterId}\0${stateTag(op.params)}\0${op.key}`;
}

function leaseKeyOf(limiterId: string, key: string): string {
  return `${limiterId}\0cc\0${key}`;
}

function toResult(outcome: Outcome<unknown>): OpResult {
  return {
    allowed: outcome.allowed,
    limit: outcome.limit,
    remaining: outcome.remaining,
    resetAfterMs: outcome.resetAfterMs,
    retryAfterMs: outcome.retryAfterMs,
    waitMs: outcome.waitMs,
  };
}
