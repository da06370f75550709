/**
 * @module
 * The sliding window counter in SQL, for the PostgreSQL store (see `src/stores/postgres/rate-sql.ts` for how steps
 * become PL/pgSQL and plain SQL). Encodes `decide.ts` exactly; the reference-model test compares the two.
 */

import { bool, EPS, INF, kept, num, type RateMath } from "../sql-steps.ts";

/**
 * Sliding window counter: `a = limit (L)`, `b = windowMs (W)`; `used` = the current window's count,
 * `previous` = the window before.
 */
export const SLIDING_COUNTER_STEPS: RateMath = {
  steps: [
    num("v_lim", "p_a"),
    num("v_ws", "floor(p_now / p_b) * p_b"),
    num("v_count", "CASE WHEN p_window_start = v_ws THEN coalesce(p_used, 0) ELSE 0 END"),
    num(
      "v_prev",
      "CASE WHEN p_window_start = v_ws THEN coalesce(p_previous, 0) WHEN p_window_start = v_ws - p_b THEN coalesce(p_used, 0) ELSE 0 END",
    ),
    num("v_weighted", "v_prev * (1 - (p_now - v_ws) / p_b) + v_count"),
    num("v_cur_remaining", "p_a - v_weighted"),
    num(
      "v_cur_reset",
      "CASE WHEN v_count > 0 THEN v_ws + 2 * p_b - p_now WHEN v_prev > 0 THEN v_ws + p_b - p_now ELSE 0 END",
    ),
    bool(
      "v_allowed",
      `CASE WHEN p_cost > p_a THEN false WHEN v_count + p_cost <= p_a AND v_weighted + p_cost <= p_a + ${EPS} THEN true ELSE false END`,
    ),
    num("v_wait_ms", "0::double precision"),
    // Current window full: wait for the next one, until this window's count (then "previous") weighs little
    // enough. Otherwise until the previous window weighs little enough (v_prev > 0 there, or it would fit).
    num(
      "v_retry",
      `CASE WHEN p_cost > p_a THEN ${INF} WHEN v_allowed THEN 0 WHEN v_count + p_cost > p_a THEN v_ws + p_b + p_b * (1 - (p_a - p_cost) / v_count) - p_now ELSE (v_ws + p_b * (1 - (p_a - v_count - p_cost) / v_prev)) - p_now END`,
    ),
    kept("v_remaining", "p_a - (v_weighted + p_cost)", "v_cur_remaining"),
    kept("v_reset", "v_ws + 2 * p_b - p_now", "v_cur_reset"),
    kept("v_ttl", "v_ws + 2 * p_b - p_now", "0"),
    kept("v_new_ws", "v_ws", "p_window_start"),
    kept("v_new_used", "v_count + p_cost", "p_used"),
    kept("v_new_prev", "v_prev", "p_previous"),
  ],
  writes: { window_start: "v_new_ws", used: "v_new_used", previous: "v_new_prev" },
};

/**
 * Refund: takes `cost` off the current window's count (a call counted in an earlier window is
 * now the `previous` count and stays).
 * See `SqlPieces.refund`.
 */
export function slidingCounterRefundSql(table: string, row: string): string {
  return `IF p_cost[v_i] < 0 THEN
        -- A charge: roll an earlier window forward (its count becomes the previous one), then count more.
        v_left := floor(v_now / p_b[v_i]) * p_b[v_i];
        UPDATE ${table} AS s SET window_start = v_left,
               used = (CASE WHEN v_ws = v_left THEN coalesce(v_used, 0) ELSE 0 END) - p_cost[v_i],
               previous = CASE WHEN v_ws = v_left THEN coalesce(v_prev, 0)
                               WHEN v_ws = v_left - p_b[v_i] THEN coalesce(v_used, 0) ELSE 0 END,
               expires_at = greatest(s.expires_at, to_timestamp((v_left + 2 * p_b[v_i]) / 1000.0))
         WHERE ${row} AND s.lease_id = '';
      ELSIF v_ws = floor(v_now / p_b[v_i]) * p_b[v_i] AND v_used IS NOT NULL THEN
        UPDATE ${table} AS s SET used = greatest(0, v_used - p_cost[v_i]) WHERE ${row} AND s.lease_id = '';
      END IF;`;
}
