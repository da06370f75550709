/**
 * @module
 * What every store does before a charge (`Store.charge`): the same cost checks as a refund, and the ops turned
 * into refunds of a negative cost, which each algorithm's refund math applies as a charge (see each
 * algorithm's `refund`).
 */

import { validateCosts } from "./guard/validate-ops.ts";
import type { StoreOp } from "./store.ts";

/**
 * Checks a charge's ops (positive finite costs) and returns them as refunds of the negated cost, without the
 * concurrency ops (they hold nothing to charge).
 */
export function chargeAsRefund(ops: readonly StoreOp[]): StoreOp[] {
  validateCosts(ops);
  return ops.filter((op) => op.params.kind !== "concurrency").map((op) => ({ ...op, cost: -op.cost }));
}
