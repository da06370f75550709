/**
 * @module
 * The adaptive hybrid in SQL, for the PostgreSQL store: a PL/pgSQL block of `<table>_rate` (the decay over idle
 * windows is a loop, a power by squaring, which has no plain-SQL form). Encodes `decide.ts` exactly, operation
 * for operation; the reference-model test compares the two.
 *
 * Columns: `tat` (the bucket), `window_start` and `used` (the guard's window and its units), `previous` (the load
 * `E`, units per window). Its tuning arrives in the state tag (`p_tag`, see `adaptiveTag`).
 */

import { EPS } from "../sql-steps.ts";

/**
 * The adaptive hybrid in `<table>_rate`: `a = limit (L)`, `b = windowMs (W)`, the tuning read from `p_tag`. Sets
 * the function's OUT values itself.
 */
export const ADAPTIVE_BLOCK = `    -- adaptive: a = limit (L), b = windowMs (W); tag = ad<W>:<A>:<multiplier>:<high>:<low>:<penalty>
    v_ad_a := split_part(p_tag, ':', 2)::double precision;
    v_ad_m := split_part(p_tag, ':', 3)::double precision;
    v_ad_hi := split_part(p_tag, ':', 4)::double precision;
    v_ad_lo := split_part(p_tag, ':', 5)::double precision;
    v_ad_pen := split_part(p_tag, ':', 6)::double precision;
    v_ad_t := p_b / p_a;
    v_ad_forget := ceil(10 * v_ad_a / p_b);
    v_ad_ws := floor(p_now / p_b) * p_b;
    v_ad_used := 0;
    v_ad_load := 0;
    v_ad_tat0 := p_now;
    IF p_tat IS NOT NULL THEN
      IF p_tat > p_now THEN v_ad_tat0 := p_tat; END IF;
      IF p_window_start >= v_ad_ws THEN
        v_ad_ws := p_window_start;
        v_ad_used := p_used;
        v_ad_load := p_previous;
      ELSE
        v_ad_windows := floor((v_ad_ws - p_window_start) / p_b + 0.5);
        IF v_ad_windows <= v_ad_forget THEN
          v_ad_w := least(1, p_b / v_ad_a);
          v_ad_keep := 1 - v_ad_w;
          -- keep ^ (windows - 1) by squaring: the multiplications of decide.ts, in its order
          v_ad_pow := 1;
          v_ad_base := v_ad_keep;
          v_ad_e := (v_ad_windows - 1)::bigint;
          WHILE v_ad_e > 0 LOOP
            IF v_ad_e % 2 = 1 THEN v_ad_pow := v_ad_pow * v_ad_base; END IF;
            v_ad_base := v_ad_base * v_ad_base;
            v_ad_e := v_ad_e / 2;
          END LOOP;
          v_ad_load := (v_ad_keep * p_previous + v_ad_w * p_used) * v_ad_pow;
        END IF;
      END IF;
    END IF;
    v_ad_l := v_ad_load / p_a;
    v_ad_top := v_ad_m * p_a;
    v_ad_bottom := greatest(p_a, v_ad_top * (1 - v_ad_pen));
    IF v_ad_l <= v_ad_lo THEN
      v_ad_cap := v_ad_top;
    ELSIF v_ad_l >= v_ad_hi THEN
      v_ad_cap := v_ad_bottom;
    ELSE
      v_ad_cap := v_ad_top - (v_ad_top - v_ad_bottom) * (v_ad_l - v_ad_lo) / (v_ad_hi - v_ad_lo);
    END IF;
    v_ad_cap := floor(v_ad_cap + ${EPS});
    lim := v_ad_cap;
    v_ad_end := v_ad_ws + p_b - p_now;
    v_ad_busy := v_ad_tat0 - p_now;
    reset_after_ms := greatest(v_ad_busy, CASE WHEN v_ad_used > 0 THEN v_ad_end ELSE 0 END);
    remaining := least((v_ad_cap * v_ad_t - v_ad_busy) / v_ad_t, v_ad_cap - v_ad_used);
    IF p_cost > v_ad_cap THEN
      retry_after_ms := CASE WHEN p_cost > floor(v_ad_top + ${EPS}) THEN 'Infinity' ELSE v_ad_end END;
    ELSE
      v_ad_new := v_ad_tat0 + p_cost * v_ad_t;
      v_ad_wait := v_ad_new - v_ad_cap * v_ad_t - p_now;
      IF v_ad_wait <= ${EPS} AND v_ad_used + p_cost <= v_ad_cap THEN
        allowed := true;
        remaining := least((v_ad_cap * v_ad_t - (v_ad_new - p_now)) / v_ad_t, v_ad_cap - v_ad_used - p_cost);
        reset_after_ms := greatest(v_ad_new - p_now, v_ad_end);
        ttl_ms := greatest(v_ad_new, v_ad_ws + (v_ad_forget + 1) * p_b) - p_now;
        new_tat := v_ad_new;
        new_window_start := v_ad_ws;
        new_used := v_ad_used + p_cost;
        new_previous := v_ad_load;
      ELSIF v_ad_used + p_cost <= v_ad_cap THEN
        retry_after_ms := greatest(v_ad_wait, 0);
      ELSE
        retry_after_ms := greatest(v_ad_wait, v_ad_end);
      END IF;
    END IF;
`;

/** The variables {@link ADAPTIVE_BLOCK} uses, by name → type. */
export const ADAPTIVE_DECLARATIONS: Readonly<Record<string, string>> = Object.fromEntries([
  ...[
    "v_ad_a",
    "v_ad_m",
    "v_ad_hi",
    "v_ad_lo",
    "v_ad_pen",
    "v_ad_t",
    "v_ad_forget",
    "v_ad_ws",
    "v_ad_used",
    "v_ad_load",
    "v_ad_tat0",
    "v_ad_windows",
    "v_ad_w",
    "v_ad_keep",
    "v_ad_pow",
    "v_ad_base",
    "v_ad_l",
    "v_ad_top",
    "v_ad_bottom",
    "v_ad_cap",
    "v_ad_end",
    "v_ad_busy",
    "v_ad_new",
    "v_ad_wait",
  ].map((name) => [name, "double precision"]),
  ["v_ad_e", "bigint"],
]);

/**
 * Refund: `tat -= cost × T` (not below now), and `used -= cost` when counted in the current window. See
 * `SqlPieces.refund`.
 */
export function adaptiveRefundSql(table: string, row: string): string {
  return `IF v_tat IS NOT NULL THEN
        UPDATE ${table} AS s SET tat = greatest(v_now, v_tat - p_cost[v_i] * (p_b[v_i] / p_a[v_i])),
               used = CASE WHEN v_ws = floor(v_now / p_b[v_i]) * p_b[v_i] THEN greatest(0, v_used - p_cost[v_i]) ELSE v_used END
         WHERE ${row} AND s.lease_id = '';
      END IF;`;
}
