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

/** Where the fold of {@link adaptiveFoldSql} reads its inputs: SQL expressions (the stored state may be NULL). */
interface FoldInputs {
  readonly limit: string;
  readonly window: string;
  readonly now: string;
  readonly tag: string;
  readonly tat: string;
  readonly windowStart: string;
  readonly used: string;
  readonly previous: string;
}

/**
 * The tuning read from the tag, then `max(tat, now)` (`v_ad_tat0`), the window (`v_ad_ws`), its units
 * (`v_ad_used`) and its load (`v_ad_load`) as of now: the ended window folded in, idle windows decayed
 * (`currentOf` in `decide.ts`). Shared by the decision and the charge, so both fold alike.
 */
function adaptiveFoldSql(v: FoldInputs): string {
  return `    v_ad_a := split_part(${v.tag}, ':', 2)::double precision;
    v_ad_m := split_part(${v.tag}, ':', 3)::double precision;
    v_ad_hi := split_part(${v.tag}, ':', 4)::double precision;
    v_ad_lo := split_part(${v.tag}, ':', 5)::double precision;
    v_ad_pen := split_part(${v.tag}, ':', 6)::double precision;
    v_ad_t := ${v.window} / ${v.limit};
    v_ad_forget := ceil(10 * v_ad_a / ${v.window});
    v_ad_ws := floor(${v.now} / ${v.window}) * ${v.window};
    v_ad_used := 0;
    v_ad_load := 0;
    v_ad_tat0 := ${v.now};
    IF ${v.tat} IS NOT NULL THEN
      IF ${v.tat} > ${v.now} THEN v_ad_tat0 := ${v.tat}; END IF;
      IF ${v.windowStart} >= v_ad_ws THEN
        v_ad_ws := ${v.windowStart};
        v_ad_used := ${v.used};
        v_ad_load := ${v.previous};
      ELSE
        v_ad_windows := floor((v_ad_ws - ${v.windowStart}) / ${v.window} + 0.5);
        IF v_ad_windows <= v_ad_forget THEN
          v_ad_w := least(1, ${v.window} / v_ad_a);
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
          v_ad_load := (v_ad_keep * ${v.previous} + v_ad_w * ${v.used}) * v_ad_pow;
        END IF;
      END IF;
    END IF;
`;
}

/** The inputs of `<table>_rate`. */
const BLOCK_INPUTS: FoldInputs = {
  limit: "p_a",
  window: "p_b",
  now: "p_now",
  tag: "p_tag",
  tat: "p_tat",
  windowStart: "p_window_start",
  used: "p_used",
  previous: "p_previous",
};

/**
 * The adaptive hybrid in `<table>_rate`: `a = limit (L)`, `b = windowMs (W)`, the tuning read from `p_tag`. Sets
 * the function's OUT values itself.
 */
export const ADAPTIVE_BLOCK = `    -- adaptive: a = limit (L), b = windowMs (W); tag = ad<W>:<A>:<multiplier>:<high>:<low>:<penalty>
${adaptiveFoldSql(BLOCK_INPUTS)}    v_ad_l := v_ad_load / p_a;
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
 * Refund: `tat -= cost × T` (not below now), and `used -= cost` when counted in the current window. A negative
 * cost is a charge: `tat = max(tat, now) - cost × T` and `-cost` more used in the current window (rolled forward
 * first, as a decision does), in a block of its own (its variables are the decision's). See `SqlPieces.refund`.
 */
export function adaptiveRefundSql(table: string, row: string): string {
  const declarations = Object.entries(ADAPTIVE_DECLARATIONS)
    .map(([name, type]) => `${name} ${type};`)
    .join(" ");
  return `IF p_cost[v_i] < 0 THEN
        DECLARE ${declarations}
        BEGIN
${adaptiveFoldSql(REFUND_INPUTS)}
          v_ad_new := v_ad_tat0 - p_cost[v_i] * v_ad_t;
          UPDATE ${table} AS s SET tat = v_ad_new, window_start = v_ad_ws, used = v_ad_used - p_cost[v_i],
                 previous = v_ad_load,
                 expires_at = greatest(s.expires_at,
                   to_timestamp(greatest(v_ad_new, v_ad_ws + (v_ad_forget + 1) * p_b[v_i]) / 1000.0))
           WHERE ${row} AND s.lease_id = '';
        END;
      ELSIF v_tat IS NOT NULL THEN
        UPDATE ${table} AS s SET tat = greatest(v_now, v_tat - p_cost[v_i] * (p_b[v_i] / p_a[v_i])),
               used = CASE WHEN v_ws = floor(v_now / p_b[v_i]) * p_b[v_i] THEN greatest(0, v_used - p_cost[v_i]) ELSE v_used END
         WHERE ${row} AND s.lease_id = '';
      END IF;`;
}

/** The inputs of `<table>_refund` (its row read into `v_*`). */
const REFUND_INPUTS: FoldInputs = {
  limit: "p_a[v_i]",
  window: "p_b[v_i]",
  now: "v_now",
  tag: "p_tag[v_i]",
  tat: "v_tat",
  windowStart: "v_ws",
  used: "v_used",
  previous: "v_prev",
};
