/**
 * @module
 * The vocabulary in which algorithms write their SQL math: named steps, each a plain SQL expression. A step list
 * is used twice (see `src/stores/postgres/rate-sql.ts`): as assignments in the PL/pgSQL `<table>_rate`, and as
 * `LATERAL` columns of a plain-SQL single-op statement, so both evaluate the same expressions in the same order.
 */

import { TIME_EPSILON_MS } from "./types.ts";

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
 * An algorithm's math: its steps, and which state columns an allowed call writes from which step. The steps
 * must define every name in `RATE_OUTPUTS` (`rate-sql.ts`).
 */
export interface RateMath {
  readonly steps: readonly RateStep[];
  /** State column → the step holding its new value (the value stays as stored when the call is denied). */
  readonly writes: Readonly<Record<string, string>>;
}

/** {@link TIME_EPSILON_MS} as an SQL literal. */
export const EPS = `${TIME_EPSILON_MS}::double precision`;
/** Infinity as an SQL literal. */
export const INF = `'Infinity'::double precision`;

/** A numeric step. */
export function num(name: string, expr: string): RateStep {
  return { name, type: "double precision", expr };
}

/** A boolean step. */
export function bool(name: string, expr: string): RateStep {
  return { name, type: "boolean", expr };
}

/** The new value of a state column: the step's value when allowed, the stored one otherwise. */
export function kept(name: string, value: string, stored: string): RateStep {
  return num(name, `CASE WHEN v_allowed THEN ${value} ELSE ${stored} END`);
}
