/**
 * @module
 * What token and leaky buckets share: the GCRA state (one timestamp, the theoretical arrival time `tat`) and
 * its refund, in TypeScript, Lua and SQL. Kept in one place so the two buckets cannot drift apart.
 */

import type { RefundOutcome } from "./shared.ts";

/** GCRA state of token and leaky buckets: the theoretical arrival time of the next unit. */
export interface GcraState {
  readonly tat: number;
}

/**
 * Gives back `cost` units of an allowed GCRA call: `tat -= cost * T`, never below now (the past cannot be
 * un-spent). The state is dropped when nothing is left ahead of now.
 */
export function refundGcra(
  intervalMs: number,
  state: GcraState | undefined,
  nowMs: number,
  cost: number,
): RefundOutcome<GcraState> {
  if (state === undefined) return { state: undefined, ttlMs: 0 };
  const tat = state.tat - cost * intervalMs;
  if (tat <= nowMs) return { state: undefined, ttlMs: 0 };
  return { state: { tat }, ttlMs: tat - nowMs };
}

/** {@link refundGcra} in Lua: `gcraRefund(state, T, B, cost)` → the new `tat` text, or nil to delete. */
export const GCRA_REFUND_LUA = `
local function gcraRefund(state, T, B, cost)
  local tat = tonumber(state) - cost * T
  if tat > now then return fmt(tat) end
  return nil
end
`;

/** {@link refundGcra} in PL/pgSQL, for `<table>_refund` (`a` = intervalMs). */
export function gcraRefundSql(table: string, row: string): string {
  return `IF v_tat IS NOT NULL AND v_tat > v_now THEN
        UPDATE ${table} AS s SET tat = greatest(v_now, v_tat - p_cost[v_i] * p_a[v_i])
         WHERE ${row} AND s.lease_id = '';
      END IF;`;
}
