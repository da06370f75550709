/**
 * @module
 * The sliding window counter: two epoch-aligned windows, the previous one weighted by its overlap.
 */

import { defineAlgorithm } from "../spec.ts";
import { decideSlidingWindowCounter, refundSlidingWindowCounter } from "./decide.ts";
import { SLIDING_COUNTER_LUA, SLIDING_COUNTER_REFUND_LUA } from "./lua.ts";
import { SLIDING_COUNTER_STEPS, slidingCounterRefundSql } from "./sql.ts";

export {
  decideSlidingWindowCounter,
  peekSlidingWindowCounter,
  refundSlidingWindowCounter,
  type SlidingCounterState,
} from "./decide.ts";

/** The sliding window counter's registry entry. */
export const slidingWindowCounter = defineAlgorithm({
  name: "sliding_window_counter",
  aliases: [],
  family: "window",
  code: "sc",
  fractionalCost: false,
  decide: decideSlidingWindowCounter,
  refund: refundSlidingWindowCounter,
  lua: {
    decideSource: SLIDING_COUNTER_LUA,
    decide: "slidingCounter",
    refundSource: SLIDING_COUNTER_REFUND_LUA,
    refund: "slidingCounterRefund",
    split: false,
    ttl: "window",
  },
  sql: { rate: { steps: SLIDING_COUNTER_STEPS }, refund: slidingCounterRefundSql },
});
