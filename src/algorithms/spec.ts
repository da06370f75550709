/**
 * @module
 * The shape of one algorithm's entry in the registry: everything the stores and the config need to know about
 * it, in TypeScript, Lua and SQL. Each algorithm folder exports one {@link AlgorithmSpec} made with
 * {@link defineAlgorithm}; `registry.ts` lists them.
 */

import type { RefundOutcome } from "./shared.ts";
import type { RateMath } from "./sql-steps.ts";
import type { DecideInput, Family, Outcome, ParamsOf } from "./types.ts";

/**
 * The Lua of an algorithm, for the Redis scripts. Both functions may use the script helpers (`now`, `EPS`,
 * `INF`, `fmt`, `num`, `rem`, and `split` when {@link LuaPieces.split} is set).
 */
export interface LuaPieces {
  /**
   * Source defining the local function named {@link LuaPieces.decide}: `(state or nil, p1, p2, cost, maxWait,
   * tag)` (the state tag, which the adaptive hybrid reads its tuning from; the others ignore it)
   * → allowed, limit, remaining, resetAfter, retryAfter, wait, newState (string, nil when denied), ttl, and for
   * `ttl: "window"` a 9th value `fresh` (the stored state was of another window). (p1, p2) are the family's
   * two numbers (see `paramPair`). Peek is this function with `cost = INF`.
   */
  readonly decideSource: string;
  readonly decide: string;
  /**
   * Source defining the local function named {@link LuaPieces.refund}: `(state, p1, p2, cost, tag)` → the state
   * string to keep, or nil to delete the field, and for a negative cost (a charge, which may start from a nil
   * state) the ms the key must live. Only the refund script includes it.
   */
  readonly refundSource: string;
  readonly refund: string;
  /**
   * Whether {@link LuaPieces.decideSource} uses `split` (parsing a `,`/`:` list into numbers), so its lean script
   * must define it; the refund script always has it.
   */
  readonly split: boolean;
  /**
   * The TTL upkeep of the lean decide script after a write: `growing` when every write can push the expiry
   * later (extend with `PEXPIRE … GT`), `window` when it is fixed per window (only the window's first write).
   */
  readonly ttl: "growing" | "window";
}

/**
 * The PL/pgSQL of an algorithm. `rate` is its math inside `<table>_rate`: either {@link RateMath} steps
 * (plain expressions, which also give the algorithm a plain-SQL single-op statement) or a PL/pgSQL block with
 * its own variable declarations. Peek is this math with `p_cost = 'Infinity'`.
 */
export interface SqlPieces {
  readonly rate:
    | { readonly steps: RateMath }
    | { readonly block: string; readonly declarations: Readonly<Record<string, string>> };
  /**
   * Statements of `<table>_refund` for one op whose state row exists: may read `v_now`, `v_tat`, `v_ws`,
   * `v_used`, `v_log`, `p_a[v_i]`, `p_b[v_i]`, `p_tag[v_i]`, `p_cost[v_i]`, use `v_left`, `v_len`, `v_j` (or
   * a nested block of their own), `CONTINUE` to the next op, and update the row
   * `WHERE ${row} AND s.lease_id = ''` of table `s`. A negative `p_cost[v_i]` is a charge (the row may be new,
   * its columns NULL) and must extend `expires_at` to when the charged state stops constraining anything.
   */
  refund(table: string, row: string): string;
}

/**
 * One rate algorithm. `K` is its name, `F` its family, `C` its short code, `A` its config aliases, `S` its state.
 */
export interface AlgorithmSpec<
  K extends string = string,
  F extends Family = Family,
  C extends string = string,
  A extends string = string,
  S = unknown,
> {
  /** The name in config (`algorithm = "…"`) and in `params.kind`. */
  readonly name: K;
  /** Other names accepted in config for it (`gcra` for `token_bucket`). */
  readonly aliases: readonly A[];
  readonly family: F;
  /**
   * Short code: the Redis kind code sent on every call, and the start of the state tag (a window algorithm's tag
   * adds the window: the state is only meaningful for one window length).
   */
  readonly code: C;
  /** Whether a call may cost a fraction of a unit (only where the math is continuous). */
  readonly fractionalCost: boolean;
  /**
   * Decides one call; pure. Peek is derived from it: `decide` with `cost = Infinity` is denied and reports the
   * state as it stands.
   */
  decide(params: ParamsOf<K, F>, input: DecideInput<S>): Outcome<S>;
  /** Gives back `cost` units of an allowed call, as well as the algorithm can; pure. */
  refund(params: ParamsOf<K, F>, state: S | undefined, nowMs: number, cost: number): RefundOutcome<S>;
  readonly lua: LuaPieces;
  readonly sql: SqlPieces;
}

/**
 * Types a spec with its literal name, family, code and aliases, so the registry can derive `Algorithm`,
 * `RateParams` and the Redis kind codes from it.
 */
export function defineAlgorithm<
  const K extends string,
  const F extends Family,
  const C extends string,
  const A extends string,
  S,
>(spec: AlgorithmSpec<K, F, C, A, S>): AlgorithmSpec<K, F, C, A, S> {
  return spec;
}
