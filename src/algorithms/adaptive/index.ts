/**
 * @module
 * The adaptive hybrid: a token bucket at the base rate `limit / window` whose burst cap tightens under load and
 * relaxes when quiet, under a hard window guard (at most the cap in one window). See `decide.ts` for the math.
 */

import { defineAlgorithm } from "../spec.ts";
import { type AdaptiveShape, decideAdaptive, refundAdaptive } from "./decide.ts";
import { ADAPTIVE_LUA, ADAPTIVE_REFUND_LUA } from "./lua.ts";
import { ADAPTIVE_BLOCK, ADAPTIVE_DECLARATIONS, adaptiveRefundSql } from "./sql.ts";

export {
  type AdaptiveShape,
  type AdaptiveState,
  capAt,
  decideAdaptive,
  maxCap,
  peekAdaptive,
  refundAdaptive,
} from "./decide.ts";

/**
 * The state tag of an adaptive key: its code, window and tuning. The tuning travels in the tag because the
 * stores send two numbers per op (`limit`, `window`); the Lua and SQL read it back from there. So a state is
 * only read back with the tuning it was built with: changing the limit keeps a key's state, changing the window
 * or any tuning knob starts it fresh.
 *
 * @example adaptiveTag({ kind: "adaptive", limit: 100, windowMs: 60_000, burstMultiplier: 3, adaptiveWindowMs: 300_000, highLoad: 0.8, lowLoad: 0.4, penalty: 0.5 })
 * // "ad60000:300000:3:0.8:0.4:0.5"
 */
export function adaptiveTag(params: AdaptiveShape): string {
  const { windowMs, adaptiveWindowMs, burstMultiplier, highLoad, lowLoad, penalty } = params;
  return `ad${windowMs}:${adaptiveWindowMs}:${burstMultiplier}:${highLoad}:${lowLoad}:${penalty}`;
}

/** The tuning of an adaptive limiter that does not set it (smart-ratelimiter's defaults). */
export const ADAPTIVE_DEFAULTS = Object.freeze({
  burstMultiplier: 3,
  adaptiveWindowMs: 300_000,
  highLoad: 0.8,
  lowLoad: 0.4,
  penalty: 0.5,
});

/** The adaptive hybrid's registry entry. */
export const adaptive = defineAlgorithm({
  name: "adaptive",
  aliases: [],
  family: "adaptive",
  code: "ad",
  fractionalCost: false,
  decide: decideAdaptive,
  refund: refundAdaptive,
  lua: {
    decideSource: ADAPTIVE_LUA,
    decide: "adaptive",
    refundSource: ADAPTIVE_REFUND_LUA,
    refund: "adaptiveRefund",
    split: false,
    ttl: "growing",
  },
  sql: {
    rate: { block: ADAPTIVE_BLOCK, declarations: ADAPTIVE_DECLARATIONS },
    refund: adaptiveRefundSql,
  },
});
