/**
 * @module
 * `decision.settle(actualCost)`: after the work of an admitted call that acquired an estimated `cost`, the
 * difference is given back (the work used less) or charged (it used more) on every limit and member the call
 * consumed from, with the same refund and charge as `rs.refund` and `rs.charge`. Also what `rs.run`'s and
 * `rateLimited`'s `actualCost` settle through.
 */

import type { Member } from "../decide/engine.ts";
import { InvalidArgumentError } from "../errors.ts";
import type { Store } from "../stores/store.ts";
import { chargeMembers, type RefundFailure, refundMembers, unusedUnits } from "./refund.ts";
import type { Decision } from "./types.ts";

/**
 * The settle function a decision carries, with what only the package passes: `onFailure`, which reports each
 * member's failed refund or charge there (`rs.run`: as `storeError` events) and resolves, instead of rejecting.
 */
export type InternalSettle = (actualCost: number, onFailure?: RefundFailure) => Promise<void>;

/**
 * True when an allowed decision consumed its units on the stores of its members, so there is something to
 * settle: not when `[lists]` admitted it (nothing consumed) or when it is degraded (admitted by `on_store_error =
 * "allow"`, a local stand-in, or shadow mode: the store holds nothing of it, and a refund there would give back
 * units other calls took).
 */
export function canSettle(decision: Decision): boolean {
  return decision.allowed && decision.degraded === undefined && decision.list === undefined;
}

/**
 * `decision` with its `settle`, when it can be settled ({@link canSettle}); otherwise `decision` itself. The
 * estimate is the cost the members were decided with. A decision settles once: a second call rejects with
 * `InvalidArgumentError`.
 */
export function withSettle(
  decision: Decision,
  members: readonly Member[],
  storeOf: (storeId: string) => Store,
): Decision {
  if (!canSettle(decision)) return decision;
  const estimate = members[0]!.cost;
  let settled = false;
  const settle: InternalSettle = (actualCost, onFailure) => {
    try {
      if (settled) {
        throw new InvalidArgumentError(`the decision for "${decision.key}" is already settled`);
      }
      const unused = unusedUnits(estimate, actualCost);
      const applied =
        unused > 0
          ? refundMembers(members, unused, storeOf, onFailure)
          : unused < 0
            ? chargeMembers(members, -unused, storeOf, onFailure)
            : Promise.resolve();
      // Only now: a call refused before anything was sent (a bad actual cost, a charge a member's store
      // cannot take) leaves the settle to a corrected second call.
      settled = true;
      return applied;
    } catch (error) {
      return Promise.reject(error);
    }
  };
  return { ...decision, settle };
}
