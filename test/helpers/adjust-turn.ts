/**
 * A turn of refunds and charges for the batch reference-model tests: random calls, issued together in one
 * event-loop turn (so a store sends them as one batch), and the same calls applied one after the other by the
 * pure functions of `src/algorithms/` at the batch's store time.
 */

import fc from "fast-check";
import { refund, releaseLease } from "../../src/algorithms/index.ts";
import type { RateParams } from "../../src/algorithms/types.ts";
import type { GuardedStore } from "../../src/stores/guard/guarded-store.ts";
import type { StoreDriver } from "../../src/stores/guard/store-driver.ts";
import type { StoreOp } from "../../src/stores/store.ts";
import { chargeTimed, refundTimed } from "./store-times.ts";

/** One call of the turn: a refund or a charge of one or two members, each picked by index, with a cost. */
export interface AdjustSpec {
  readonly charge: boolean;
  readonly members: readonly { readonly pick: number; readonly cost: number }[];
}

/** Up to 24 calls: one batch on either store (at most 32 refunds per Redis run, 128 per PostgreSQL call). */
export const adjustTurnArb: fc.Arbitrary<readonly AdjustSpec[]> = fc.array(
  fc.record({
    charge: fc.boolean(),
    members: fc.array(fc.record({ pick: fc.nat(), cost: fc.integer({ min: 1, max: 3 }) }), {
      minLength: 1,
      maxLength: 2,
    }),
  }),
  { maxLength: 24 },
);

/** A call to make: its kind and its ops (positive costs, as the store takes them). */
export interface AdjustCall {
  readonly charge: boolean;
  readonly ops: readonly StoreOp[];
}

/**
 * The calls of `specs`: a refund gives back members picked among `allowed` (members of allowed decisions; a
 * lease is released), a charge charges states picked among `chargeable` (one op per chargeable state). A spec
 * with nothing to pick from is left out.
 */
export function adjustCalls(
  specs: readonly AdjustSpec[],
  allowed: readonly StoreOp[],
  chargeable: readonly StoreOp[],
): AdjustCall[] {
  const calls: AdjustCall[] = [];
  for (const spec of specs) {
    const from = spec.charge ? chargeable : allowed;
    if (from.length === 0) continue;
    const ops = spec.members.map(({ pick, cost }): StoreOp => {
      const op = from[pick % from.length] as StoreOp;
      return op.params.kind === "concurrency" ? op : { ...op, cost };
    });
    calls.push({ charge: spec.charge, ops });
  }
  return calls;
}

/** Makes every call in the same turn; resolves with the store time each call reported. */
export function adjustInOneTurn(
  store: GuardedStore<StoreDriver>,
  calls: readonly AdjustCall[],
): Promise<number[]> {
  return Promise.all(calls.map((call) => (call.charge ? chargeTimed : refundTimed)(store, call.ops)));
}

/**
 * Applies the calls on the model, one after the other and each op in order, at `nowMs`: `get` and `set` read and
 * write the model's state of an op's state.
 */
export function applyAdjusts(
  calls: readonly AdjustCall[],
  nowMs: number,
  get: (op: StoreOp) => unknown,
  set: (op: StoreOp, state: unknown) => void,
): void {
  for (const call of calls) {
    for (const op of call.ops) {
      const state = get(op);
      if (op.params.kind === "concurrency") {
        // A charge holds nothing on a lease (the store drops such ops); a refund releases it.
        if (!call.charge) set(op, releaseLease(state as never, nowMs, op.leaseId ?? "").state);
        continue;
      }
      const cost = call.charge ? -op.cost : op.cost;
      set(op, refund(op.params as RateParams, state, nowMs, cost).state);
    }
  }
}
