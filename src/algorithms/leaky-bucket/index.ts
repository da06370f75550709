/**
 * @module
 * The leaky bucket (a shaper): departures `intervalMs` apart, at most `burst` units queued ahead.
 */

import { GCRA_REFUND_LUA, gcraRefundSql } from "../gcra.ts";
import { defineAlgorithm } from "../spec.ts";
import { decideLeakyBucket, refundLeakyBucket } from "./decide.ts";
import { LEAKY_BUCKET_LUA } from "./lua.ts";
import { LEAKY_BUCKET_STEPS } from "./sql.ts";

export { decideLeakyBucket, peekLeakyBucket, refundLeakyBucket } from "./decide.ts";

/** The leaky bucket's registry entry. */
export const leakyBucket = defineAlgorithm({
  name: "leaky_bucket",
  aliases: [],
  family: "bucket",
  code: "lb",
  fractionalCost: false,
  decide: decideLeakyBucket,
  refund: refundLeakyBucket,
  lua: {
    decideSource: LEAKY_BUCKET_LUA,
    decide: "leakyBucket",
    refundSource: GCRA_REFUND_LUA,
    refund: "gcraRefund",
    split: false,
    ttl: "growing",
  },
  sql: { rate: { steps: LEAKY_BUCKET_STEPS }, refund: gcraRefundSql },
});
