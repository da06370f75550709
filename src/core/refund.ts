/**
 * @module
 * `rs.refund(key, units)`: giving back units a key consumed, when the actual cost of a call is known only after
 * the work. Each member's rate limits (every limit of a `limits = [...]` limiter) are refunded on their store
 * by the algorithm's own refund, in one store call per member; concurrency limits and keys decided by `[lists]`
 * hold nothing to give back. `rs.charge(key, units)`: the other way, consuming units beyond the limit (through
 * `Store.charge`), for work that cost more than it acquired.
 */

import { describeValue } from "../config/units.ts";
import type { Member } from "../decide/engine.ts";
import { InvalidArgumentError } from "../errors.ts";
import type { Store, StoreOp } from "../stores/store.ts";
import type { AcquireOptions } from "./types.ts";

/** Told about a member's refund that failed (instead of rejecting): its store, its limiter, the error. */
export type RefundFailure = (storeId: string, limiterId: string, error: Error) => void;

/**
 * Refunds `units` to every member: one `Store.refund` per member with one op per rate limit. Without
 * `onFailure`, rejects with the first store failure after every member was tried; with it, reports each failure
 * there and resolves.
 */
export function refundMembers(
  members: readonly Member[],
  units: number,
  storeOf: (storeId: string) => Store,
  onFailure?: RefundFailure,
): Promise<void> {
  return applyToMembers(members, units, storeOf, (store, ops) => store.refund(ops), onFailure);
}

/**
 * Charges `units` to every member: one `Store.charge` per member with one op per rate limit, failures as for
 * {@link refundMembers}. Without `onFailure`, every member is checked first, so a member whose (custom) store
 * does not implement `Store.charge` refuses the whole call (an `InvalidArgumentError`) before any store is
 * written; with it, that member's refusal is reported there like a store failure.
 */
export function chargeMembers(
  members: readonly Member[],
  units: number,
  storeOf: (storeId: string) => Store,
  onFailure?: RefundFailure,
): Promise<void> {
  if (onFailure === undefined) {
    for (const member of members) {
      if (member.list !== undefined) continue;
      if (storeOf(member.config.store).charge === undefined) throw cannotCharge(member.config.store);
    }
  }
  return applyToMembers(
    members,
    units,
    storeOf,
    (store, ops) => (store.charge === undefined ? Promise.reject(cannotCharge(store.id)) : store.charge(ops)),
    onFailure,
  );
}

/** The refusal of a charge on a (custom) store that does not implement `Store.charge`. */
function cannotCharge(storeId: string): InvalidArgumentError {
  return new InvalidArgumentError(
    `store "${storeId}" cannot charge units: it does not implement Store.charge`,
  );
}

async function applyToMembers(
  members: readonly Member[],
  units: number,
  storeOf: (storeId: string) => Store,
  apply: (store: Store, ops: readonly StoreOp[]) => Promise<void>,
  onFailure: RefundFailure | undefined,
): Promise<void> {
  const calls: Promise<void>[] = [];
  for (const member of members) {
    if (member.list !== undefined) continue;
    const ops = refundOps(member, units);
    if (ops.length === 0) continue;
    const call = apply(storeOf(member.config.store), ops);
    calls.push(
      onFailure === undefined
        ? call
        : call.catch((error: unknown) =>
            onFailure(
              member.config.store,
              member.resolved.entry.id,
              error instanceof Error ? error : new Error(String(error)),
            ),
          ),
    );
  }
  const settled = await Promise.allSettled(calls);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed !== undefined) throw failed.reason;
}

/** Refuses `units` for `rs.refund` (or `rs.charge`) that are not a positive finite number, naming the argument. */
export function assertRefundUnits(units: unknown, what: "refund" | "charge" = "refund"): void {
  if (typeof units !== "number" || !Number.isFinite(units) || units <= 0) {
    throw new InvalidArgumentError(
      `${what} units must be a positive finite number, got ${describeValue(units)}`,
    );
  }
}

/**
 * The difference to settle after the work: `estimate - actual`, positive to refund when the work cost less
 * than it acquired, negative to charge when it cost more. The actual cost must be a finite number ≥ 0.
 */
export function unusedUnits(estimate: number, actual: unknown): number {
  if (typeof actual !== "number" || !Number.isFinite(actual) || actual < 0) {
    throw new InvalidArgumentError(
      `the actual cost (actualCost, settle) must be a finite number of units at least 0, got ${describeValue(actual)}`,
    );
  }
  return estimate - actual;
}

/** The ops that give `units` back to each rate limit of a member (none for a concurrency-only limiter). */
function refundOps(member: Member, units: number): StoreOp[] {
  const { resolved, config } = member;
  const limiterId = resolved.entry.id;
  const key = resolved.storeKey(config.hashKeys);
  const rates = config.limits?.map((limit) => limit.rate) ?? (config.rate === undefined ? [] : [config.rate]);
  return rates.map((params) => ({ limiterId, key, params, cost: units }));
}

/** Options of `rs.run`: those of `acquire`, and how to read the actual cost of the work from its result. */
export interface RunOptions<T> extends AcquireOptions {
  /**
   * The units the work really used, read from its result (e.g. `(r) => r.usage.total_tokens`). When less than
   * the acquired `cost`, the difference is refunded on every limit and member; when more, the excess is charged
   * (`rs.charge`: beyond the limit, into debt), after the work and before `run` resolves. A refund or charge
   * the store fails (or a charge on a custom store without `Store.charge`) is reported as a `storeError` event,
   * never thrown (the work is done). Not called when `fn` throws (nothing is settled then). A result that is
   * not a finite number ≥ 0 rejects with `InvalidArgumentError`. Settled through the lease's
   * `decision.settle`: an admission that consumed nothing in a store (lists, degraded) settles nothing.
   */
  readonly actualCost?: (result: T) => number;
}
