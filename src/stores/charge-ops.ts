/**
 * @module
 * What every store does before a charge (`Store.charge`): the same cost checks as a refund, a refusal of the
 * algorithms that cannot be charged, and the ops turned into refunds of a negative cost — which the refund math
 * of the buckets and counting windows applies as a charge (see each algorithm's `refund`).
 */

import { InvalidArgumentError } from "../errors.ts";
import { validateCosts } from "./guard/validate-ops.ts";
import type { StoreOp } from "./store.ts";

/** The rate algorithms a charge can go beyond the limit of (their refunds take a negative cost as a charge). */
export const CHARGEABLE_KINDS: ReadonlySet<string> = new Set([
  "token_bucket",
  "leaky_bucket",
  "fixed_window",
  "sliding_window_counter",
]);

/**
 * Throws an {@link InvalidArgumentError} when an op's algorithm cannot be charged (the sliding window log keeps
 * timestamped entries a charge would have to invent; adaptive moves its limit from what it admitted), naming the
 * algorithm and the limiter. Concurrency ops are accepted (they hold nothing to charge).
 */
export function assertChargeable(ops: readonly StoreOp[]): void {
  for (const op of ops) {
    const kind = op.params.kind;
    if (kind === "concurrency" || CHARGEABLE_KINDS.has(kind)) continue;
    throw new InvalidArgumentError(
      `charge is not supported by the ${kind} algorithm (limiter "${op.limiterId}"); it supports token_bucket, leaky_bucket, fixed_window and sliding_window_counter`,
    );
  }
}

/**
 * Checks a charge's ops (positive finite costs, chargeable algorithms) and returns them as refunds of the
 * negated cost, without the concurrency ops.
 */
export function chargeAsRefund(ops: readonly StoreOp[]): StoreOp[] {
  validateCosts(ops);
  assertChargeable(ops);
  return ops.filter((op) => op.params.kind !== "concurrency").map((op) => ({ ...op, cost: -op.cost }));
}
