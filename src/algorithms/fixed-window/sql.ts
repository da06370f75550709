/**
 * @module
 * The fixed window in SQL, for the PostgreSQL store (see `src/stores/postgres/rate-sql.ts` for how steps become
 * PL/pgSQL and plain SQL). Encodes `decide.ts` exactly; the reference-model test compares the two.
 */

import { bool, INF, kept, num, type RateMath } from "../sql-steps.ts";

/** Fixed window: `a = limit (L)`, `b = windowMs (W)`, aligned to the epoch. */
export const FIXED_WINDOW_STEPS: RateMath = {
  steps: [
    num("v_lim", "p_a"),
    num("v_ws", "floor(p_now / p_b) * p_b"),
    num("v_count", "CASE WHEN p_window_start = v_ws THEN coalesce(p_used, 0) ELSE 0 END"),
    num("v_cur_remaining", "p_a - v_count"),
    num("v_cur_reset", "CASE WHEN v_count > 0 THEN v_ws + p_b - p_now ELSE 0 END"),
    bool(
      "v_allowed",
      "CASE WHEN p_cost > p_a THEN false WHEN v_count + p_cost <= p_a THEN true ELSE false END",
    ),
    num("v_wait_ms", "0::double precision"),
    num("v_retry", `CASE WHEN p_cost > p_a THEN ${INF} WHEN v_allowed THEN 0 ELSE v_ws + p_b - p_now END`),
    kept("v_remaining", "p_a - v_count - p_cost", "v_cur_remaining"),
    kept("v_reset", "v_ws + p_b - p_now", "v_cur_reset"),
    kept("v_ttl", "v_ws + p_b - p_now", "0"),
    kept("v_new_ws", "v_ws", "p_window_start"),
    kept("v_new_used", "v_count + p_cost", "p_used"),
  ],
  writes: { window_start: "v_new_ws", used: "v_new_used" },
};

/**
 * Refund: takes `cost` off the current window's count (a call counted in a window that has ended needs nothing).
 * See `SqlPieces.refund`.
 */
export function fixedWindowRefundSql(table: string, row: string): string {
  return `IF p_cost[v_i] < 0 THEN
        v_left := floor(v_now / p_b[v_i]) * p_b[v_i];
        UPDATE ${table} AS s SET window_start = v_left,
               used = (CASE WHEN v_ws = v_left THEN coalesce(v_used, 0) ELSE 0 END) - p_cost[v_i],
               expires_at = greatest(s.expires_at, to_timestamp((v_left + p_b[v_i]) / 1000.0))
         WHERE ${row} AND s.lease_id = '';
      ELSIF v_ws = floor(v_now / p_b[v_i]) * p_b[v_i] AND v_used IS NOT NULL THEN
        UPDATE ${table} AS s SET used = greatest(0, v_used - p_cost[v_i]) WHERE ${row} AND s.lease_id = '';
      END IF;`;
}
