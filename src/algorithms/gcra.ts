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
 * un-spent). The state is dropped when nothing is left ahead of now. A negative `cost` is a charge: the `tat`
 * (now, for an empty or stale state) moves `|cost| * T` later, past `now + burst * T` when that takes more than
 * the bucket holds: debt, denied until it is repaid.
 */
export function refundGcra(
  intervalMs: number,
  state: GcraState | undefined,
  nowMs: number,
  cost: number,
): RefundOutcome<GcraState> {
  // From now when the state is empty or stale: for a refund that drops the state as before, for a charge the
  // debt starts now (a tat in the past holds no units to add to).
  const tat = Math.max(state?.tat ?? nowMs, nowMs) - cost * intervalMs;
  if (tat <= nowMs) return { state: undefined, ttlMs: 0 };
  return { state: { tat }, ttlMs: tat - nowMs };
}

/** {@link refundGcra} in Lua: `gcraRefund(state, T, B, cost)` → the new `tat` text, or nil to delete. */
export const GCRA_REFUND_LUA = `
local function gcraRefund(state, T, B, cost)
  local base = now
  if state ~= nil and tonumber(state) > now then base = tonumber(state) end
  local tat = base - cost * T
  if tat > now then return fmt(tat), tat - now end
  return nil
end
`;

/** {@link refundGcra} in PL/pgSQL, for `<table>_refund` (`a` = intervalMs). */
export function gcraRefundSql(table: string, row: string): string {
  return `IF p_cost[v_i] < 0 THEN
        v_tat := greatest(v_now, coalesce(v_tat, v_now)) - p_cost[v_i] * p_a[v_i];
        UPDATE ${table} AS s SET tat = v_tat,
               expires_at = greatest(s.expires_at, to_timestamp(v_tat / 1000.0))
         WHERE ${row} AND s.lease_id = '';
      ELSIF v_tat IS NOT NULL AND v_tat > v_now THEN
        UPDATE ${table} AS s SET tat = greatest(v_now, v_tat - p_cost[v_i] * p_a[v_i])
         WHERE ${row} AND s.lease_id = '';
      END IF;`;
}
