/**
 * @module
 * What a guarded store reports to an observer attached with `observeStore`: each call's outcome with the store
 * time it was made at. The reference-model tests replay decisions at exactly that time; nothing lets anyone set a
 * store's clock.
 */

import type { BatchResult, OpResult, StoreOp } from "../store.ts";

/**
 * Receives every answered call of a store, before its caller does. `storeNowMs` holds the store clock (ms since
 * the epoch) of each statement or script run of the call, in order; it is empty when no round trip was made (a
 * denial answered by the over-limit cache).
 */
export interface StoreObserver {
  decided?(ops: readonly StoreOp[], batch: BatchResult, storeNowMs: readonly number[]): void;
  peeked?(op: StoreOp, result: OpResult, storeNowMs: readonly number[]): void;
  refunded?(ops: readonly StoreOp[], storeNowMs: readonly number[]): void;
  /** A charge (`Store.charge`), with the ops as the caller gave them (positive costs). */
  charged?(ops: readonly StoreOp[], storeNowMs: readonly number[]): void;
}
