/**
 * @module
 * A lease release as the op of a refund. Refunding a concurrency op ends its lease (the Redis refund script
 * removes it from the key's lease set, `<table>_refund` deletes its row) and touches nothing else, so the Redis
 * and PostgreSQL stores send releases in their batches of refunds, one op each.
 */

import type { StoreOp } from "./store.ts";

/** The refund op that ends lease `leaseId` of `key` under `limiterId`. */
export function releaseAsRefund(limiterId: string, key: string, leaseId: string): StoreOp {
  // A limit's numbers play no part in ending a lease: only the key, the lease set and the id do.
  return { limiterId, key, params: { kind: "concurrency", maxConcurrent: 1, leaseMs: 1 }, cost: 1, leaseId };
}
