/**
 * @module
 * The math of the O(1) rate algorithms (those whose `sql.rate` in the registry is steps, written in each
 * algorithm's `sql.ts`) as SQL expressions, written once and used twice:
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
 * An algorithm written as a PL/pgSQL block (the exact log, `sliding_window`) is not here: its loops stay in
 * `<table>_rate`.
 */

import { ALGORITHM_SPECS, specOf } from "../../algorithms/registry.ts";
import { EPS, type RateMath, type RateStep } from "../../algorithms/sql-steps.ts";
import type { Algorithm } from "../../algorithms/types.ts";
import type { PostgresNames } from "./identifiers.ts";

/** An algorithm whose math is written as steps (one of {@link PLAIN_RATE_KINDS}). */
export type PlainRateKind = Algorithm;

/** The algorithms with a plain-SQL single-op statement (those whose SQL is steps), in registry order. */
export const PLAIN_RATE_KINDS: readonly PlainRateKind[] = ALGORITHM_SPECS.filter(
  (spec) => "steps" in spec.sql.rate,
).map((spec) => spec.name as Algorithm);

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

/** The math of one algorithm, as steps. */
export function rateMath(kind: PlainRateKind): RateMath {
  const { rate } = specOf(kind).sql;
  if (!("steps" in rate)) throw new Error(`${kind} has no SQL steps`);
  return rate.steps;
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
 * The PL/pgSQL declarations of every variable of every algorithm, for `<table>_rate`: the step variables (which
 * it assigns in order to variables of the same names) and the variables of PL/pgSQL blocks. A name several
 * algorithms use is declared once, so it must have one type.
 */
export function rateStepDeclarationsSql(): string {
  const types = new Map<string, string>();
  const declare = (name: string, type: string): void => {
    const known = types.get(name);
    if (known !== undefined && known !== type) throw new Error(`rate variable ${name}: two types`);
    types.set(name, type);
  };
  for (const spec of ALGORITHM_SPECS) {
    const { rate } = spec.sql;
    if ("steps" in rate) for (const step of rate.steps.steps) declare(step.name, step.type);
    else for (const [name, type] of Object.entries(rate.declarations)) declare(name, type);
  }
  return [...types].map(([name, type]) => `  ${name} ${type};`).join("\n");
}

/**
 * The `IF p_kind = '<kind>' THEN … ELSIF … ELSE RAISE … END IF` of `<table>_rate`: one branch per algorithm, in
 * registry order.
 */
export function rateBranchesSql(): string {
  const branches = ALGORITHM_SPECS.map((spec, i) => {
    const { rate } = spec.sql;
    const body = "steps" in rate ? stepsBranchSql(rate.steps) : rate.block;
    return `  ${i === 0 ? "IF" : "ELSIF"} p_kind = '${spec.name}' THEN\n${body}\n`;
  });
  return `${branches.join("")}  ELSE
    RAISE EXCEPTION 'rate-sync: unknown algorithm %', p_kind USING ERRCODE = '22023';
  END IF;`;
}

/**
 * The body of one steps branch of `<table>_rate`: the algorithm's steps as assignments, then the function's
 * outputs (`new_<column>` for each column an allowed call writes).
 */
function stepsBranchSql(math: RateMath): string {
  const steps = math.steps.map((s) => `    ${s.name} := ${s.expr};`).join("\n");
  const writes = Object.entries(math.writes)
    .map(([column, step]) => `    new_${column} := ${step};`)
    .join("\n");
  return `${steps}
    allowed := v_allowed;
    lim := v_lim;
    remaining := v_remaining;
    reset_after_ms := v_reset;
    retry_after_ms := v_retry;
    wait_ms := v_wait_ms;
    ttl_ms := v_ttl;
${writes}`;
}
