/**
 * @module
 * The sliding window log (exact): at most `limit` units in any interval of `windowMs` ending now.
 */

import { defineAlgorithm } from "../spec.ts";
import { decideSlidingWindow, refundSlidingWindow } from "./decide.ts";
import { SLIDING_WINDOW_LUA, SLIDING_WINDOW_REFUND_LUA } from "./lua.ts";
import { SLIDING_WINDOW_BLOCK, SLIDING_WINDOW_DECLARATIONS, slidingWindowRefundSql } from "./sql.ts";

export {
  decideSlidingWindow,
  peekSlidingWindow,
  refundSlidingWindow,
  type SlidingWindowState,
} from "./decide.ts";

/** The sliding window log's registry entry. */
export const slidingWindow = defineAlgorithm({
  name: "sliding_window",
  aliases: [],
  family: "window",
  code: "sw",
  fractionalCost: false,
  decide: decideSlidingWindow,
  refund: refundSlidingWindow,
  lua: {
    decideSource: SLIDING_WINDOW_LUA,
    decide: "slidingWindow",
    refundSource: SLIDING_WINDOW_REFUND_LUA,
    refund: "slidingWindowRefund",
    split: true,
    ttl: "growing",
  },
  sql: {
    rate: { block: SLIDING_WINDOW_BLOCK, declarations: SLIDING_WINDOW_DECLARATIONS },
    refund: slidingWindowRefundSql,
  },
});
