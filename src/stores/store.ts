/**
 * @module
 * The interface every store implements (memory, Redis, PostgreSQL, SQLite). A store only moves state: the math lives
 * in `src/algorithms/`, which the Lua and SQL of remote stores encode identically.
 *
 * Identity of state: a store keeps one rate state per `(limiterId, stateTag(params), key)` and one lease set per
 * `(limiterId, key)`. The tag (see {@link stateTag}) contains the algorithm and the window, so changing either
 * on reload starts fresh, while changing a limit or a rate keeps the usage so far.
 */

import type { BlockReport, BlockSpec } from "../algorithms/block/decide.ts";
import type { LimitParams } from "../algorithms/types.ts";

/** Storage engines. */
export type StoreEngine = "memory" | "redis" | "postgres" | "sqlite";

/** One member of a decision. */
export interface StoreOp {
  /** Namespace: the id of the limiter or template the key resolved to. */
  readonly limiterId: string;
  /** The key's own state name (already hashed when the limiter says `hash_keys`). Any characters. */
  readonly key: string;
  /** What to decide. */
  readonly params: LimitParams;
  /** Units to consume; for concurrency, always 1. */
  readonly cost: number;
  /** For concurrency: the id of the lease to grant. Required when `params.kind === "concurrency"`. */
  readonly leaseId?: string;
  /**
   * The limiter's block (`block`, `block_escalation`), on the first of its rate ops only: the store checks and
   * starts the block of `(limiterId, key)` in the same atomic step as the limit (see `src/algorithms/block/`).
   */
  readonly block?: BlockSpec;
}

/** The outcome of one member (see `Outcome` in the algorithms for the meaning of each field). */
export interface OpResult {
  readonly allowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  readonly resetAfterMs: number;
  readonly retryAfterMs: number;
  readonly waitMs: number;
  /** True when a remote store answered from its local over-limit cache, without a round trip. */
  readonly fromCache?: boolean;
  /**
   * On an op that carries a block (`StoreOp.block`), when the key is blocked: by a block this call ran into, or
   * one its denial started. The result is then a denial whose `retryAfterMs` covers the time left in the block.
   */
  readonly block?: BlockReport;
}

/** The outcome of a whole decision. */
export interface BatchResult {
  /** True only when every member was allowed; then every member was applied, otherwise none was. */
  readonly allowed: boolean;
  /** One result per member, in order. When one member denies, the others report what they would have said. */
  readonly results: readonly OpResult[];
}

/** A place where limiter state lives. All methods are safe to call concurrently. */
export interface Store {
  /** The store's id in the config. */
  readonly id: string;
  readonly engine: StoreEngine;
  /**
   * Decides every member atomically (one round trip on remote stores): all are allowed and applied, or none
   * is. `maxWaitMs` is the reservation budget of token and leaky buckets (0 decides now); the batch's wait is
   * the largest member `waitMs`.
   */
  decide(ops: readonly StoreOp[], maxWaitMs: number): Promise<BatchResult>;
  /**
   * Optional: the same as {@link decide}, answered synchronously when that needs no I/O, else `undefined` (the
   * caller then uses {@link decide}). The memory store always answers; a remote store answers only denials its
   * local over-limit cache already knows. It lets such calls skip every promise hop between caller and state.
   */
  decideNow?(ops: readonly StoreOp[], maxWaitMs: number): BatchResult | undefined;
  /**
   * Optional: {@link decideNow} for exactly one op, without a batch around its result: what the engine's one-key
   * fast lane asks (see `Engine.tryDecideNow`). `undefined` when the store cannot answer without I/O.
   */
  decideOneNow?(op: StoreOp, maxWaitMs: number): OpResult | undefined;
  /** Reports a member's state as of now, consuming nothing. */
  peek(op: StoreOp): Promise<OpResult>;
  /**
   * Gives back what an allowed decision consumed, as well as the algorithm can (used when a composite spans
   * stores and a later member denies). Leases are released.
   */
  refund(ops: readonly StoreOp[]): Promise<void>;
  /**
   * Consumes each op's `cost` whatever the limit, atomically (for work that cost more than it acquired): a bucket
   * goes into debt, a window (or the exact log) counts above its limit, adaptive does both. Refused with
   * `InvalidArgumentError` for a cost that is not positive and finite (see `src/stores/charge-ops.ts`).
   * Concurrency ops are ignored. Optional, so a custom store written before it
   * keeps working: `rs.charge` on a store without it is refused.
   */
  charge?(ops: readonly StoreOp[]): Promise<void>;
  /** Forgets all state of a key under a limiter (every algorithm tag and every lease). */
  reset(limiterId: string, key: string): Promise<void>;
  /**
   * Optional: forgets the state of every key under a limiter or template id — every algorithm tag and every
   * lease — and resolves with how many keys held state (each key counted once, whatever it held). Only that
   * exact namespace goes: `clear("api:<userId>")` leaves limiter `apix:<id>` and an explicit limiter `api:42`
   * alone. Removes in small batches, never blocking the store on one huge command; a decision that runs while
   * the clear does may keep (or write) its key's state. A store without it cannot be cleared by `rs.clear`.
   */
  clear?(limiterId: string): Promise<number>;
  /**
   * Optional: how many keys hold live state under a limiter or template id now, where the store can count them
   * without walking everything it holds elsewhere; `undefined` when it cannot (Redis: counting would need a
   * `SCAN` of the whole keyspace).
   */
  keyCount?(limiterId: string): Promise<number | undefined>;
  /** Ends a lease; idempotent (an unknown or expired lease is not an error). */
  release(limiterId: string, key: string, leaseId: string): Promise<void>;
  /** Extends a live lease to `leaseMs` from now; false when the lease is gone (expired or released). */
  renew(limiterId: string, key: string, leaseId: string, leaseMs: number): Promise<boolean>;
  /** Closes connections after the calls in flight; idempotent. */
  close(): Promise<void>;
}

/** The tag that separates states of different shapes under one key (algorithm plus window; see the registry). */
export { stateTag } from "../algorithms/registry.ts";
