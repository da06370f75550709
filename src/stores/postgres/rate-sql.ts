/**
 * @module
 * The math of the four O(1) rate algorithms (fixed window, sliding window counter, token and leaky bucket) as
 * SQL expressions, written once and used twice:
 * - `<table>_rate` (PL/pgSQL, see `functions-sql.ts`) assigns each step to a variable of the same name;
 * - the plain-SQL single-op statements ({@link singleRateStatementSql}) compute the same steps as columns.
 * Both evaluate the same expressions in the same order on the same doubles, so their answers are bit-identical
 * to each other; the reference-model test compares them with `src/algorithms/`.
 *
 * Why plain SQL for a single op: a PL/pgSQL call costs a function call and re-initialises its expressions in
 * every transaction, several times the cost of the statement's actual work. One prepared statement does the
 * same steps: lock the row (`SELECT … FOR UPDATE`), read `clock_timestamp()` once the row is ours, compute,
 * and UPDATE only when the call is allowed. It returns no row when the state row does not exist yet (a new key,
 * or one the sweep just deleted): the store then calls `<table>_decide_one`, which inserts it. So a new key
 * costs two round trips and an existing one a single statement.
 *
 * Under READ COMMITTED, the statement is exact under concurrency: `FOR UPDATE` waits for a concurrent holder and
 * then returns the newest row version (EvalPlanQual), so the math runs on current state; the UPDATE, which
 * scans with the statement's older snapshot, finds that version updated, re-fetches the newest one (which this
 * statement has locked, so nobody changed it since) and writes the values computed from it. The contention
 * tests check exact admissions on one hot key for every algorithm.
 *
 * The exact log (`sliding_window`) is not here: its loops over the log stay in `<table>_rate`.
 */

import { TIME_EPSILON_MS } from "../../algorithms/types.ts";
import type { PostgresNames } from "./identifiers.ts";

/** The algorithms whose math is written as {@link RateStep}s (the exact log keeps its PL/pgSQL loops). */
export type PlainRateKind = "fixed_window" | "sliding_window_counter" | "token_bucket" | "leaky_bucket";

/** The algorithms with a plain-SQL single-op statement, in a fixed order. */
export const PLAIN_RATE_KINDS: readonly PlainRateKind[] = [
  "fixed_window",
  "sliding_window_counter",
  "token_bucket",
  "leaky_bucket",
];

/**
 * One named intermediate value of an algorithm's math: `expr` may use the inputs (`p_a`, `p_b`, `p_cost`,
 * `p_max_wait`, `p_now` and the stored state `p_tat`, `p_window_start`, `p_used`, `p_previous`, NULL when
 * unset) and the names of earlier steps. Every name starts with `v_`, which is how a later step's references
 * are found.
 */
export interface RateStep {
  readonly name: string;
  readonly type: "double precision" | "boolean";
  readonly expr: string;
}

/**
 * The outputs every algorithm's steps define, by step name: the decision (`v_remaining` before the rounding
 * rule), the state as it is before the call (`v_cur_*`, what peek and a denial report), and the state to write
 * when allowed (`v_ttl`, and the columns in {@link RateMath.writes}).
 */
export const RATE_OUTPUTS = [
  "v_allowed",
  "v_lim",
  "v_remaining",
  "v_reset",
  "v_retry",
  "v_wait_ms",
  "v_ttl",
  "v_cur_remaining",
  "v_cur_reset",
] as const;

/** An algorithm's math: its steps, and which state columns an allowed call writes from which step. */
export interface RateMath {
  readonly steps: readonly RateStep[];
  /** State column → the step holding its new value (the value stays as stored when the call is denied). */
  readonly writes: Readonly<Record<string, string>>;
}

const EPS = `${TIME_EPSILON_MS}::double precision`;
const INF = `'Infinity'::double precision`;

function num(name: string, expr: string): RateStep {
  return { name, type: "double precision", expr };
}

function bool(name: string, expr: string): RateStep {
  return { name, type: "boolean", expr };
}

/** The new value of a state column: the step's value when allowed, the stored one otherwise. */
function kept(name: string, value: string, stored: string): RateStep {
  return num(name, `CASE WHEN v_allowed THEN ${value} ELSE ${stored} END`);
}

/** GCRA token bucket: `a = intervalMs (T)`, `b = burst (B)`. Mirrors `src/algorithms/token-bucket.ts`. */
function tokenBucket(): RateMath {
  return {
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
}

/**
 * Leaky bucket (shaping by reservation): `a = intervalMs (T)`, `b = burst (B)`, `tat` = next free departure
 * slot. Mirrors `src/algorithms/leaky-bucket.ts`.
 */
function leakyBucket(): RateMath {
  return {
    steps: [
      num("v_lim", "p_b"),
      num("v_base", "greatest(coalesce(p_tat, p_now), p_now)"),
      num("v_wait", "v_base - p_now"),
      num("v_cur_remaining", "p_b - v_wait / p_a"),
      num("v_cur_reset", "v_wait"),
      bool("v_full", `v_wait / p_a + p_cost > p_b + ${EPS} / p_a`),
      bool(
        "v_allowed",
        `CASE WHEN p_cost > p_b THEN false WHEN v_full THEN false WHEN v_wait <= ${EPS} THEN true WHEN v_wait <= p_max_wait THEN true ELSE false END`,
      ),
      num(
        "v_wait_ms",
        `CASE WHEN p_cost > p_b THEN 0 WHEN v_full THEN 0 WHEN v_wait <= ${EPS} THEN 0 WHEN v_wait <= p_max_wait THEN v_wait ELSE 0 END`,
      ),
      // Full: a caller whose budget covers the wait reserves once enough drained, any other only once empty.
      num(
        "v_retry",
        `CASE WHEN p_cost > p_b THEN ${INF} WHEN v_full THEN (CASE WHEN v_wait > p_max_wait THEN v_wait ELSE (v_wait / p_a + p_cost - p_b) * p_a END) WHEN v_allowed THEN 0 ELSE v_wait END`,
      ),
      num("v_new", "v_base + p_cost * p_a"),
      kept("v_remaining", "p_b - (v_new - p_now) / p_a", "v_cur_remaining"),
      kept("v_reset", "v_new - p_now", "v_cur_reset"),
      kept("v_ttl", "v_new - p_now", "0"),
      kept("v_new_tat", "v_new", "p_tat"),
    ],
    writes: { tat: "v_new_tat" },
  };
}

/** Fixed window: `a = limit (L)`, `b = windowMs (W)`, aligned to the epoch. Mirrors `fixed-window.ts`. */
function fixedWindow(): RateMath {
  return {
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
}

/**
 * Sliding window counter: `a = limit (L)`, `b = windowMs (W)`; `used` = the current window's count,
 * `previous` = the window before. Mirrors `sliding-window-counter.ts`.
 */
function slidingWindowCounter(): RateMath {
  return {
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
}

/** The math of one algorithm, as steps. */
export function rateMath(kind: PlainRateKind): RateMath {
  switch (kind) {
    case "token_bucket":
      return tokenBucket();
    case "leaky_bucket":
      return leakyBucket();
    case "fixed_window":
      return fixedWindow();
    case "sliding_window_counter":
      return slidingWindowCounter();
  }
}

/** The `remaining` rule of every algorithm (`max(0, floor(x + EPS))`, as `remainingUnits`), in SQL. */
export function remainingRuleSql(x: string): string {
  return `greatest(0, floor(${x} + ${EPS}))`;
}

/** Step names an expression refers to. */
function references(expr: string): string[] {
  return expr.match(/\bv_[a-z_]+\b/g) ?? [];
}

/**
 * Groups steps into layers: each step goes one layer after the last step it uses, so a layer only refers to
 * earlier layers. Each layer becomes one `LATERAL` subquery of the statement.
 */
function layers(steps: readonly RateStep[]): RateStep[][] {
  const depth = new Map<string, number>();
  const out: RateStep[][] = [];
  for (const step of steps) {
    let d = 0;
    for (const name of references(step.expr)) {
      const used = depth.get(name);
      if (used === undefined) throw new Error(`rate step ${step.name} uses ${name} before it is defined`);
      d = Math.max(d, used + 1);
    }
    depth.set(step.name, d);
    const layer = out[d];
    if (layer === undefined) out[d] = [step];
    else layer.push(step);
  }
  return out;
}

/**
 * The prepared statement that decides one `kind` op on an existing row, in one plain-SQL statement (see the
 * module comment). Parameters: `$1` limiter, `$2` key, `$3` tag, `$4` a, `$5` b, `$6` cost, `$7` maxWaitMs.
 * Returns the row shape of `<table>_decide_one`, or no row when the state row does not exist.
 *
 * `clocked` reads the clock per row coming out of the lock, so once the row is ours (see `<table>_decide` for
 * why), and once per statement (the CTE is materialized and holds one row).
 *
 * Each layer of steps is a `LATERAL (… OFFSET 0)` subquery: `OFFSET 0` keeps the planner from inlining a
 * step's expression into every later use (which would evaluate it again for each use).
 */
export function singleRateStatementSql(names: PostgresNames, kind: PlainRateKind): string {
  const t = names.table;
  const math = rateMath(kind);
  const row = `s.limiter_id = $1::text AND s.key = $2::text AND s.tag = $3::text AND s.lease_id = ''`;
  const laterals = layers(math.steps)
    .map(
      (layer, i) =>
        `\n   CROSS JOIN LATERAL (SELECT ${layer.map((s) => `${s.expr} AS ${s.name}`).join(",\n      ")} OFFSET 0) AS d${i}`,
    )
    .join("");
  const sets = Object.entries(math.writes)
    .map(([column, step]) => `${column} = d.${step}`)
    .join(", ");
  return `WITH locked AS MATERIALIZED (
  SELECT s.tat AS p_tat, s.window_start AS p_window_start, s.used AS p_used, s.previous AS p_previous
    FROM ${t} AS s
   WHERE ${row}
     FOR UPDATE
), clocked AS MATERIALIZED (
  SELECT l.*, clock_timestamp() AS now_ts FROM locked AS l
), decided AS MATERIALIZED (
  SELECT c.now_ts, c.p_now AS now_ms, ${RATE_OUTPUTS.join(", ")}, ${Object.values(math.writes).join(", ")}
    FROM (SELECT k.*, (extract(epoch FROM k.now_ts) * 1000)::double precision AS p_now,
                 $4::float8 AS p_a, $5::float8 AS p_b, $6::float8 AS p_cost, $7::float8 AS p_max_wait
            FROM clocked AS k OFFSET 0) AS c${laterals}
), written AS (
  UPDATE ${t} AS s SET ${sets}, expires_at = d.now_ts + d.v_ttl * interval '1 millisecond'
    FROM decided AS d
   WHERE ${row} AND d.v_allowed
)
SELECT v_allowed AS allowed, v_lim AS lim, ${remainingRuleSql("v_remaining")} AS remaining,
       v_reset AS reset_after_ms, v_retry AS retry_after_ms, v_wait_ms AS wait_ms, now_ms
  FROM decided`;
}

/**
 * The PL/pgSQL declarations of every step variable of every algorithm in {@link PLAIN_RATE_KINDS}, for
 * `<table>_rate`, which assigns the steps in order to variables of the same names.
 */
export function rateStepDeclarationsSql(): string {
  const types = new Map<string, RateStep["type"]>();
  for (const kind of PLAIN_RATE_KINDS) {
    for (const step of rateMath(kind).steps) {
      const known = types.get(step.name);
      if (known !== undefined && known !== step.type) throw new Error(`rate step ${step.name}: two types`);
      types.set(step.name, step.type);
    }
  }
  return [...types].map(([name, type]) => `  ${name} ${type};`).join("\n");
}

/**
 * One `ELSIF p_kind = '<kind>'` branch of `<table>_rate`: the algorithm's steps as assignments, then the
 * function's outputs (`new_<column>` for each column an allowed call writes).
 */
export function rateBranchSql(kind: PlainRateKind): string {
  const math = rateMath(kind);
  const steps = math.steps.map((s) => `    ${s.name} := ${s.expr};`).join("\n");
  const writes = Object.entries(math.writes)
    .map(([column, step]) => `    new_${column} := ${step};`)
    .join("\n");
  return `  ELSIF p_kind = '${kind}' THEN
${steps}
    allowed := v_allowed;
    lim := v_lim;
    remaining := v_remaining;
    reset_after_ms := v_reset;
    retry_after_ms := v_retry;
    wait_ms := v_wait_ms;
    ttl_ms := v_ttl;
${writes}

`;
}
