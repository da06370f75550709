/**
 * @module
 * The token bucket (GCRA): capacity `burst`, refilled continuously. `gcra` is its alias in config; the only
 * algorithm whose math is continuous enough for fractional costs.
 */

import { GCRA_REFUND_LUA, gcraRefundSql } from "../gcra.ts";
import { defineAlgorithm } from "../spec.ts";
import { decideTokenBucket, refundTokenBucket } from "./decide.ts";
import { TOKEN_BUCKET_LUA } from "./lua.ts";
import { TOKEN_BUCKET_STEPS } from "./sql.ts";

export { decideTokenBucket, peekTokenBucket, refundTokenBucket } from "./decide.ts";

/** The token bucket's registry entry. */
export const tokenBucket = defineAlgorithm({
  name: "token_bucket",
  aliases: ["gcra"],
  family: "bucket",
  code: "tb",
  fractionalCost: true,
  decide: decideTokenBucket,
  refund: refundTokenBucket,
  lua: {
    decideSource: TOKEN_BUCKET_LUA,
    decide: "tokenBucket",
    refundSource: GCRA_REFUND_LUA,
    refund: "gcraRefund",
    split: false,
    ttl: "growing",
  },
  sql: { rate: { steps: TOKEN_BUCKET_STEPS }, refund: gcraRefundSql },
});
