/**
 * @module
 * The token bucket in SQL, for the PostgreSQL store (see `src/stores/postgres/rate-sql.ts` for how steps become
 * PL/pgSQL and plain SQL). Encodes `decide.ts` exactly; the reference-model test compares the two.
 */

import { bool, EPS, INF, kept, num, type RateMath } from "../sql-steps.ts";

/** GCRA token bucket: `a = intervalMs (T)`, `b = burst (B)`. */
export const TOKEN_BUCKET_STEPS: RateMath = {
  steps: [
    num("v_lim", "p_b"),
    num("v_base", "greatest(coalesce(p_tat, p_now), p_now)"),
    num("v_cur_remaining", "(p_b * p_a - (v_base - p_now)) / p_a"),
    num("v_cur_reset", "v_base - p_now"),
    num("v_new", "v_base + p_cost * p_a"),
    num("v_wait", "v_new - p_b * p_a - p_now"),
    bool(
      "v_allowed",
      `CASE WHEN p_cost > p_b THEN false WHEN v_wait <= ${EPS} THEN true WHEN v_wait <= p_max_wait THEN true ELSE false END`,
    ),
    num(
      "v_wait_ms",
      `CASE WHEN p_cost > p_b THEN 0 WHEN v_wait <= ${EPS} THEN 0 WHEN v_wait <= p_max_wait THEN v_wait ELSE 0 END`,
    ),
    num("v_retry", `CASE WHEN p_cost > p_b THEN ${INF} WHEN v_allowed THEN 0 ELSE v_wait END`),
    kept("v_remaining", "(p_b * p_a - (v_new - p_now)) / p_a", "v_cur_remaining"),
    kept("v_reset", "v_new - p_now", "v_cur_reset"),
    kept("v_ttl", "v_new - p_now", "0"),
    kept("v_new_tat", "v_new", "p_tat"),
  ],
  writes: { tat: "v_new_tat" },
};
