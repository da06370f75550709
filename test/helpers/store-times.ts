/**
 * The store time of each call of a Redis or PostgreSQL store, read through the guarded store's observer: the
 * reference-model tests replay a decision in `src/algorithms` at exactly the instant the store made it.
 */

import { type GuardedStore, observeStore } from "../../src/stores/guard/guarded-store.ts";
import type { StoreDriver } from "../../src/stores/guard/store-driver.ts";
import type { BatchResult, OpResult, StoreOp } from "../../src/stores/store.ts";

type AnyGuardedStore = GuardedStore<StoreDriver>;

/** A decision with the store time(s) it was made at. */
export interface TimedBatchResult {
  readonly batch: BatchResult;
  /** The store clock (ms since the epoch) of each statement or script run, in order; empty when answered locally. */
  readonly storeNowMs: readonly number[];
  /** The first of {@link storeNowMs}; NaN when no round trip was made. */
  readonly nowMs: number;
}

/** Store times of calls not read yet, by the ops array (or op) the call was made with. */
const pending = new WeakMap<object, readonly number[]>();
const watched = new WeakSet<AnyGuardedStore>();

function watch(store: AnyGuardedStore): void {
  if (watched.has(store)) return;
  watched.add(store);
  observeStore(store, {
    decided: (ops, _batch, times) => pending.set(ops, times),
    peeked: (op, _result, times) => pending.set(op, times),
    refunded: (ops, times) => pending.set(ops, times),
    charged: (ops, times) => pending.set(ops, times),
  });
}

/** The store times recorded for the call made with `subject`, forgotten once read. */
function take(subject: object): readonly number[] {
  const times = pending.get(subject) ?? [];
  pending.delete(subject);
  return times;
}

/** `store.decide`, also reporting the store time of the decision. Pass a fresh ops array per call. */
export async function decideTimed(
  store: AnyGuardedStore,
  ops: readonly StoreOp[],
  maxWaitMs: number,
): Promise<TimedBatchResult> {
  watch(store);
  const batch = await store.decide(ops, maxWaitMs);
  const storeNowMs = take(ops);
  return { batch, storeNowMs, nowMs: storeNowMs[0] ?? Number.NaN };
}

/** `store.peek`, with the store time. */
export async function peekTimed(
  store: AnyGuardedStore,
  op: StoreOp,
): Promise<{ readonly result: OpResult; readonly nowMs: number }> {
  watch(store);
  const result = await store.peek(op);
  return { result, nowMs: take(op)[0] ?? Number.NaN };
}

/** `store.refund`, returning the store time of the refund (NaN for an empty list). */
export async function refundTimed(store: AnyGuardedStore, ops: readonly StoreOp[]): Promise<number> {
  watch(store);
  await store.refund(ops);
  return take(ops)[0] ?? Number.NaN;
}

/** `store.charge`, returning the store time of the charge (NaN for an empty list). */
export async function chargeTimed(store: AnyGuardedStore, ops: readonly StoreOp[]): Promise<number> {
  watch(store);
  await store.charge(ops);
  return take(ops)[0] ?? Number.NaN;
}
