/**
 * @module
 * `rs.refund(key, units)`: giving back units a key consumed, when the actual cost of a call is known only after
 * the work. Each member's rate limits (every limit of a `limits = [...]` limiter) are refunded on their store
 * by the algorithm's own refund, in one store call per member; concurrency limits and keys decided by `[lists]`
 * hold nothing to give back.
 */

import type { Member } from "../decide/engine.ts";
import type { Store, StoreOp } from "../stores/store.ts";

/**
 * Refunds `units` to every member: one `Store.refund` per member with one op per rate limit. Rejects with the
 * first store failure after every member was tried.
 */
export async function refundMembers(
  members: readonly Member[],
  units: number,
  storeOf: (storeId: string) => Store,
): Promise<void> {
  const calls: Promise<void>[] = [];
  for (const member of members) {
    if (member.list !== undefined) continue;
    const ops = refundOps(member, units);
    if (ops.length > 0) calls.push(storeOf(member.config.store).refund(ops));
  }
  const settled = await Promise.allSettled(calls);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed !== undefined) throw failed.reason;
}

/** The ops that give `units` back to each rate limit of a member (none for a concurrency-only limiter). */
function refundOps(member: Member, units: number): StoreOp[] {
  const { resolved, config } = member;
  const limiterId = resolved.entry.id;
  const key = resolved.storeKey(config.hashKeys);
  const rates = config.limits?.map((limit) => limit.rate) ?? (config.rate === undefined ? [] : [config.rate]);
  return rates.map((params) => ({ limiterId, key, params, cost: units }));
}
