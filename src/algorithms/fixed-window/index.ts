/**
 * @module
 * The fixed window: at most `limit` units per epoch-aligned window of `windowMs`.
 */

import { defineAlgorithm } from "../spec.ts";
import { decideFixedWindow, refundFixedWindow } from "./decide.ts";
import { FIXED_WINDOW_LUA, FIXED_WINDOW_REFUND_LUA } from "./lua.ts";
import { FIXED_WINDOW_STEPS, fixedWindowRefundSql } from "./sql.ts";

export { decideFixedWindow, type FixedWindowState, peekFixedWindow, refundFixedWindow } from "./decide.ts";

/** The fixed window's registry entry. */
export const fixedWindow = defineAlgorithm({
  name: "fixed_window",
  aliases: [],
  family: "window",
  code: "fw",
  fractionalCost: false,
  decide: decideFixedWindow,
  refund: refundFixedWindow,
  lua: {
    decideSource: FIXED_WINDOW_LUA,
    decide: "fixedWindow",
    refundSource: FIXED_WINDOW_REFUND_LUA,
    refund: "fixedWindowRefund",
    split: false,
    ttl: "window",
  },
  sql: { rate: { steps: FIXED_WINDOW_STEPS }, refund: fixedWindowRefundSql },
});
