/**
 * @module
 * The seam between the guarded store and a remote engine. A driver only encodes a call, sends it through the
 * {@link GuardedCalls} it is given, and decodes the reply; everything that protects the caller (breaker, time
 * budget, over-limit cache, counters, refunds of late replies) is the guarded store's.
 */

import type { BatchResult, OpResult, StoreOp } from "../store.ts";
import type { StoreClock } from "./store-clock.ts";

/**
 * Where a driver records the store time (ms since the epoch) of each statement or script run of a call. Given
 * only while an observer watches the store (see `observeStore`), so an unwatched call allocates nothing.
 */
export type StoreTimes = number[];

/** What the guarded store lends its driver to send calls with. */
export interface GuardedCalls {
  /** The store's id in the config. */
  readonly storeId: string;
  /** The time budget of one call (ms). */
  readonly timeoutMs: number;
  /** True once the store was closed. */
  readonly closed: boolean;
  /**
   * One call: counted, through the breaker, within the time budget; whatever fails reaches the caller as a
   * counted `StoreError` with secrets masked. `send` gets a signal that aborts when the budget runs out (when
   * the driver {@link StoreDriver.cancels}); `onLate` gets a value that arrives after it.
   */
  run<T>(
    action: string,
    send: (signal: AbortSignal | undefined) => Promise<T>,
    onLate?: (value: T) => void,
  ): Promise<T>;
  /** Counts a reply the driver could not read as a failed call; returns the error to throw. */
  failed(error: unknown, action: string): Error;
  /**
   * A decision whose "allowed" reply came after its caller timed out: counted, the ops' cached denials forgotten,
   * and `refund` (which undoes it) sent around the breaker, within the time budget, best effort.
   */
  refundLate(ops: readonly StoreOp[], refund: () => Promise<unknown>): void;
  /** Forgets the cached denials of the ops' keys (after a driver refunded them on its own). */
  forget(ops: readonly StoreOp[]): void;
  /** The store-clock estimate of one part of the store (`0` for a single server; a Cluster has one per slot). */
  clock(part: number): StoreClock;
}

/** A remote engine behind a guarded store: encode, send through {@link GuardedCalls}, decode. */
export interface StoreDriver {
  /** True when a call can be cancelled: `run` then hands `send` a signal that aborts past the time budget. */
  readonly cancels: boolean;
  /**
   * Loads the engine's package (and connects, when the driver connects outside the breaker), once; later calls
   * get the same settled promise. A rejection fails the call without touching the breaker: a missing package is
   * not an outage.
   */
  prepare(): Promise<unknown>;
  /** Called after a failed call that went through the breaker, with the breaker's state then. */
  afterFailure?(breakerOpen: boolean): void;
  decide(ops: readonly StoreOp[], maxWaitMs: number, times: StoreTimes | undefined): Promise<BatchResult>;
  peek(op: StoreOp, times: StoreTimes | undefined): Promise<OpResult>;
  refund(ops: readonly StoreOp[], times: StoreTimes | undefined): Promise<void>;
  reset(limiterId: string, key: string): Promise<void>;
  /**
   * Forgets every key's state under a limiter id (see `Store.clear`), in batches that each go through
   * {@link GuardedCalls.run}; resolves with how many keys held state.
   */
  clear(limiterId: string): Promise<number>;
  /** See `Store.keyCount`: a count the engine gives cheaply, else `undefined`. */
  keyCount(limiterId: string): Promise<number | undefined>;
  release(limiterId: string, key: string, leaseId: string): Promise<void>;
  renew(limiterId: string, key: string, leaseId: string, leaseMs: number): Promise<boolean>;
  /** Closes connections after the calls in flight. Called once. */
  close(): Promise<void>;
}
