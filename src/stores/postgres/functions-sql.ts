/**
 * @module
 * The PL/pgSQL functions that decide on the server. They encode exactly the math of `src/algorithms/` (see the
 * algorithm notes there); the reference-model property test runs both on the same store time and compares.
 *
 * Why functions rather than one big `INSERT … ON CONFLICT`: a composite decision must lock several rows, read
 * one clock after the locks are held, decide every member, and apply all or none. A function does that in one
 * statement (one round trip, atomic as every statement is) and keeps each step readable. An upsert cannot read
 * the clock after the row lock without EvalPlanQual subtleties, and cannot return a denial without writing.
 *
 * The functions:
 * - `<table>_rate`: the math of every rate algorithm, a pure function of (parameters, stored state, time). The
 *   fixed window, sliding window counter and both buckets are generated from the steps in `rate-sql.ts`, the
 *   same expressions the plain-SQL single-op statements compute, so there is one copy of that math; the exact
 *   log's loops live here only.
 * - `<table>_decide_one`: the lean path, for the most common call (one rate op). Locks the one row with
 *   `SELECT … FOR UPDATE` (inserting it first only when missing), reads the clock, runs `<table>_rate`, and
 *   UPDATEs only when allowed. Two table statements in the steady state, no arrays, no sort, no nested
 *   statement-level call, one row back.
 * - `<table>_decide` + `<table>_step`: the general function (every row in one global order, one clock, each member
 *   with `<table>_step`, all or nothing); the store peeks through it. Decisions of composites, concurrency and
 *   every batch of calls take `<table>_decide_batch` (`batch-sql.ts`), built from the same pieces.
 *
 * Both paths write the same row layout with the same math, so processes on either path, peek, refund, renew and
 * the sweep all share state.
 */

import { CONCURRENCY } from "../../algorithms/registry.ts";
import { TIME_EPSILON_MS } from "../../algorithms/types.ts";
import type { PostgresNames } from "./identifiers.ts";
import { rateBranchesSql, rateStepDeclarationsSql, remainingRuleSql } from "./rate-sql.ts";

/** Custom SQLSTATE raised to undo the tentative writes of a composite when a member is denied. */
export const DENIED_SQLSTATE = "RSDNY";

/** Custom SQLSTATE of the (practically impossible) failure to lock a row that cleanup keeps deleting. */
export const LOCK_SQLSTATE = "RSLCK";

/**
 * The settings of every function that reads or writes the table: a fixed `search_path`, and no sequential scan.
 * PL/pgSQL caches the plan of each statement per connection, and a plan made while the table is nearly empty
 * (a fresh store) reads it whole: a hash join or a nested loop over a sequential scan is the cheapest way to
 * find a row among a handful. The table then grows and the plan stays until statistics change (autovacuum's
 * next analyze, which can be minutes away), so each batch scanned the whole table: measured, 64-key batches
 * on 10k rows took 30–40 ms instead of 4–7. Every row these functions touch is found by its primary key, so an
 * index lookup is right at any size.
 */
export const TABLE_FUNCTION_SETTINGS = `SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off`;

/**
 * `<table>_rate`: the math of every rate algorithm, once. A pure function: from the parameters, the stored state
 * (the row's columns, NULL when there is no state) and the store time `p_now` (ms), it computes the decision and
 * the state to write when the call is allowed. Both deciding functions call it (`<table>_step` for composites,
 * the lean `<table>_decide_one` for a single op), so they cannot drift apart; the reference-model test compares
 * it with `src/algorithms/`. It has one branch per registered algorithm (its `sql.ts`); the branches of the O(1)
 * algorithms assign their steps in order, the very expressions the plain-SQL single-op statements evaluate, so
 * those statements cannot drift either.
 *
 * The `new_*` columns are the whole state after an allowed call (columns an algorithm does not use pass through
 * unchanged), so callers write them with one UPDATE whatever the algorithm; `ttl_ms` is how long the row keeps
 * constraining anything from `p_now`. It knows nothing of peek: a peek is this function with `p_cost = 'Infinity'`
 * (denied, so it reports the state as it stands), see {@link peekSql}.
 *
 * Argument meaning by `p_kind`: buckets `a = intervalMs, b = burst`; windows `a = limit, b = windowMs`; the
 * adaptive hybrid `a = limit, b = windowMs` and its tuning in `p_tag` (the state tag, see `adaptiveTag`).
 *
 * No `SET search_path`: the function reads no table, and a SET clause would cost a configuration change on
 * every call; its callers set the path.
 */
export function rateFunctionSql(names: PostgresNames): string {
  return `CREATE OR REPLACE FUNCTION ${names.rateFunction}(
  p_kind text, p_a double precision, p_b double precision, p_cost double precision,
  p_max_wait double precision, p_now double precision,
  p_tat double precision, p_window_start double precision, p_used double precision,
  p_previous double precision, p_log double precision[], p_tag text,
  OUT allowed boolean, OUT lim double precision, OUT remaining double precision,
  OUT reset_after_ms double precision, OUT retry_after_ms double precision, OUT wait_ms double precision,
  OUT new_tat double precision, OUT new_window_start double precision, OUT new_used double precision,
  OUT new_previous double precision, OUT new_log double precision[], OUT ttl_ms double precision)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $fn$
DECLARE
  -- the variables of every algorithm's math (each algorithm's sql.ts)
${rateStepDeclarationsSql()}
BEGIN
${rateBodySql()}
END
$fn$`;
}

/**
 * The body of `<table>_rate`: from the scalar inputs (`p_kind`, `p_a`, `p_b`, `p_cost`, `p_max_wait`, `p_now` and
 * the stored state `p_tat`, `p_window_start`, `p_used`, `p_previous`, `p_log`, and the state tag `p_tag`) it sets the decision (`allowed`,
 * `lim`, `remaining`, `reset_after_ms`, `retry_after_ms`, `wait_ms`) and the state to write (`new_*`, `ttl_ms`).
 * The batch function (`batch-sql.ts`) splices the same text into its loop, so both run one copy of the math.
 */
export function rateBodySql(): string {
  return `  allowed := false;
  retry_after_ms := 0;
  wait_ms := 0;
  ttl_ms := 0;
  new_tat := p_tat;
  new_window_start := p_window_start;
  new_used := p_used;
  new_previous := p_previous;
  new_log := p_log;

${rateBranchesSql()}

  remaining := ${remainingRuleSql("remaining")};`;
}

/**
 * The UPDATE that writes an allowed call's new state (a `<table>_rate` result in `v_r`) on the locked row
 * `p_limiter, p_key, p_tag`, expiring `ttl_ms` after the decision time `v_now_ts`. Shared by both paths so the
 * row they write is the same.
 */
function writeRateStateSql(t: string): string {
  return `UPDATE ${t} AS s SET tat = v_r.new_tat, window_start = v_r.new_window_start, used = v_r.new_used,
           previous = v_r.new_previous, log = v_r.new_log,
           expires_at = v_now_ts + v_r.ttl_ms * interval '1 millisecond'
     WHERE s.limiter_id = p_limiter AND s.key = p_key AND s.tag = p_tag AND s.lease_id = ''`;
}

/**
 * Peek, the one way every store peeks: the state as it stands is what `<table>_rate` reports for a call of
 * infinite cost (always denied, nothing written); whether the call itself would pass comes from the decision
 * already in `v_r`. Overwrites `remaining` and `reset_after_ms` after {@link rateResultSql}.
 */
function peekSql(rateFunction: string, now: string): string {
  return `v_r := ${rateFunction}(p_kind, p_a, p_b, 'Infinity', p_max_wait, ${now},
      v_tat, v_ws, v_used, v_prev, v_log, p_tag);
    remaining := v_r.remaining;
    reset_after_ms := v_r.reset_after_ms;`;
}

/** Copies the decision of `<table>_rate` (held in `v_r`) into the OUT parameters of the same names. */
const rateResultSql = `allowed := v_r.allowed; lim := v_r.lim; remaining := v_r.remaining;
    reset_after_ms := v_r.reset_after_ms; retry_after_ms := v_r.retry_after_ms; wait_ms := v_r.wait_ms;`;

/**
 * `<table>_step`: decides one member of a composite at `p_now_ts` on a row the caller has locked, and when
 * `p_write` is true and the member is allowed, writes the new state. In peek mode (`p_peek`) it reports the state
 * as it is. Rate algorithms use the math of `<table>_rate` (a peek as {@link peekSql}); concurrency (a count of
 * lease rows, `src/algorithms/concurrency/sql.ts`) is spliced in here, as only the general path handles it.
 *
 * Argument meaning by `p_kind`: buckets `a = intervalMs, b = burst`; windows `a = limit, b = windowMs`;
 * concurrency `a = maxConcurrent, b = leaseMs`.
 */
export function stepFunctionSql(names: PostgresNames): string {
  const t = names.table;
  const eps = TIME_EPSILON_MS;
  return `CREATE OR REPLACE FUNCTION ${names.stepFunction}(
  p_limiter text, p_key text, p_tag text, p_kind text, p_a double precision, p_b double precision,
  p_cost double precision, p_lease text, p_max_wait double precision, p_now_ts timestamptz,
  p_write boolean, p_peek boolean,
  OUT allowed boolean, OUT lim double precision, OUT remaining double precision,
  OUT reset_after_ms double precision, OUT retry_after_ms double precision, OUT wait_ms double precision)
LANGUAGE plpgsql VOLATILE
${TABLE_FUNCTION_SETTINGS}
AS $fn$
DECLARE
  v_now_ts timestamptz := p_now_ts;
  v_now double precision := (extract(epoch FROM p_now_ts) * 1000)::double precision;
  v_eps CONSTANT double precision := ${eps};
  v_cur_remaining double precision := 0;
  v_cur_reset double precision := 0;
  v_tat double precision;
  v_ws double precision;
  v_used double precision;
  v_prev double precision;
  v_log double precision[];
  v_r record;
  v_live integer;
  v_min_exp timestamptz;
  v_max_exp timestamptz;
  v_new_exp timestamptz;
BEGIN
  IF p_kind <> 'concurrency' THEN
    SELECT s.tat, s.window_start, s.used, s.previous, s.log INTO v_tat, v_ws, v_used, v_prev, v_log
      FROM ${t} AS s
     WHERE s.limiter_id = p_limiter AND s.key = p_key AND s.tag = p_tag AND s.lease_id = '';
    v_r := ${names.rateFunction}(p_kind, p_a, p_b, p_cost, p_max_wait, v_now,
      v_tat, v_ws, v_used, v_prev, v_log, p_tag);
    IF v_r.allowed AND p_write AND NOT p_peek THEN
      ${writeRateStateSql(t)};
    END IF;
    ${rateResultSql}
    IF p_peek THEN
      ${peekSql(names.rateFunction, "v_now")}
    END IF;
    RETURN;
  END IF;

${CONCURRENCY.sql.step(t)}  remaining := greatest(0, floor(remaining + v_eps));
END
$fn$`;
}

/**
 * `<table>_decide_one`: the lean path of the most common call, one rate op (not concurrency) and no composite.
 * Same guarantees as `<table>_decide` with a fraction of its statements: lock the row with `SELECT … FOR UPDATE`
 * (inserting a placeholder first only when it is missing), read `clock_timestamp()` once the row is ours, run
 * `<table>_rate`, and UPDATE only when the call is allowed (a denial writes no new row version). One row comes
 * back, with the store time of the decision. With `p_peek` it takes no lock and writes nothing.
 *
 * It writes the same row layout with the same math as the general function, so processes using either path
 * (and peek, refund and the sweep) share state.
 */
export function decideOneFunctionSql(names: PostgresNames): string {
  const t = names.table;
  return `CREATE OR REPLACE FUNCTION ${names.decideOneFunction}(
  p_limiter text, p_key text, p_tag text, p_kind text, p_a double precision, p_b double precision,
  p_cost double precision, p_max_wait double precision, p_peek boolean,
  OUT allowed boolean, OUT lim double precision, OUT remaining double precision,
  OUT reset_after_ms double precision, OUT retry_after_ms double precision, OUT wait_ms double precision,
  OUT now_ms double precision)
LANGUAGE plpgsql VOLATILE
${TABLE_FUNCTION_SETTINGS}
AS $fn$
DECLARE
  v_now_ts timestamptz;
  v_tat double precision;
  v_ws double precision;
  v_used double precision;
  v_prev double precision;
  v_log double precision[];
  v_locked boolean := false;
  v_r record;
BEGIN
  IF p_peek THEN
    SELECT s.tat, s.window_start, s.used, s.previous, s.log INTO v_tat, v_ws, v_used, v_prev, v_log
      FROM ${t} AS s
     WHERE s.limiter_id = p_limiter AND s.key = p_key AND s.tag = p_tag AND s.lease_id = '';
  ELSE
    -- Lock the row, inserting it only when missing. The loop covers the background sweep deleting an expired
    -- row between the two statements (it then simply gets inserted again); a row another call inserts meanwhile
    -- is found by the next SELECT, which takes a fresh snapshot.
    FOR v_attempt IN 1..8 LOOP
      SELECT s.tat, s.window_start, s.used, s.previous, s.log INTO v_tat, v_ws, v_used, v_prev, v_log
        FROM ${t} AS s
       WHERE s.limiter_id = p_limiter AND s.key = p_key AND s.tag = p_tag AND s.lease_id = ''
         FOR UPDATE;
      IF FOUND THEN
        v_locked := true;
        EXIT;
      END IF;
      INSERT INTO ${t} AS s (limiter_id, key, tag, lease_id, expires_at)
      VALUES (p_limiter, p_key, p_tag, '', '-infinity')
      ON CONFLICT (limiter_id, key, tag, lease_id) DO NOTHING;
    END LOOP;
    IF NOT v_locked THEN
      RAISE EXCEPTION 'rate-sync: could not lock a state row' USING ERRCODE = '${LOCK_SQLSTATE}';
    END IF;
  END IF;

  -- After the lock, as in <table>_decide: time never goes backwards along the row's history.
  v_now_ts := clock_timestamp();
  now_ms := (extract(epoch FROM v_now_ts) * 1000)::double precision;
  v_r := ${names.rateFunction}(p_kind, p_a, p_b, p_cost, p_max_wait, now_ms,
    v_tat, v_ws, v_used, v_prev, v_log, p_tag);
  IF v_r.allowed AND NOT p_peek THEN
    ${writeRateStateSql(t)};
  END IF;
  ${rateResultSql}
  IF p_peek THEN
    ${peekSql(names.rateFunction, "now_ms")}
  END IF;
END
$fn$`;
}

/**
 * \`<table>_decide\`: one whole decision in one statement. Locks every member's row in one global order, reads the
 * clock once after the locks are held, decides every member, and keeps the writes only when all are allowed.
 * Returns one row per member, in order, each with the store time of the decision (\`now_ms\`).
 *
 * Why \`clock_timestamp()\` after the locks rather than \`statement_timestamp()\`: under contention a statement
 * may wait on a row lock. Its start time can then be older than the time the previous holder decided with, and
 * deciding "in the past" on newer state breaks the math (a fixed window would see the previous window and count
 * from zero; the log would go out of order). Reading the clock once the row is ours makes time non-decreasing
 * along every row's history, and one reading per statement keeps every member of a composite on one instant.
 */
export function decideFunctionSql(names: PostgresNames): string {
  const t = names.table;
  return `CREATE OR REPLACE FUNCTION ${names.decideFunction}(
  p_limiter text[], p_key text[], p_tag text[], p_kind text[], p_a double precision[], p_b double precision[],
  p_cost double precision[], p_lease text[], p_max_wait double precision, p_peek boolean)
RETURNS TABLE (allowed boolean, lim double precision, remaining double precision,
  reset_after_ms double precision, retry_after_ms double precision, wait_ms double precision,
  now_ms double precision)
LANGUAGE plpgsql VOLATILE
${TABLE_FUNCTION_SETTINGS}
AS $fn$
DECLARE
  v_n integer := coalesce(cardinality(p_key), 0);
  v_now_ts timestamptz;
  v_row record;
  v_step record;
  v_locked boolean;
  v_all boolean := true;
  r_allowed boolean[] := '{}';
  r_lim double precision[] := '{}';
  r_remaining double precision[] := '{}';
  r_reset double precision[] := '{}';
  r_retry double precision[] := '{}';
  r_wait double precision[] := '{}';
BEGIN
  IF NOT p_peek THEN
    -- One global (bytewise) order of rows: two decisions sharing rows queue instead of deadlocking.
    FOR v_row IN
      SELECT u.l, u.k, u.t FROM unnest(p_limiter, p_key, p_tag) AS u(l, k, t)
       ORDER BY u.l COLLATE "C", u.k COLLATE "C", u.t COLLATE "C"
    LOOP
      v_locked := false;
      -- Make sure the row exists, then lock it. The loop covers the background sweep deleting an expired row
      -- between the two statements (it then simply gets inserted again).
      FOR v_attempt IN 1..8 LOOP
        INSERT INTO ${t} AS s (limiter_id, key, tag, lease_id, expires_at)
        VALUES (v_row.l, v_row.k, v_row.t, '', '-infinity')
        ON CONFLICT (limiter_id, key, tag, lease_id) DO NOTHING;
        PERFORM FROM ${t} AS s
         WHERE s.limiter_id = v_row.l AND s.key = v_row.k AND s.tag = v_row.t AND s.lease_id = ''
           FOR UPDATE;
        IF FOUND THEN
          v_locked := true;
          EXIT;
        END IF;
      END LOOP;
      IF NOT v_locked THEN
        RAISE EXCEPTION 'rate-sync: could not lock a state row' USING ERRCODE = '${LOCK_SQLSTATE}';
      END IF;
    END LOOP;
  END IF;

  v_now_ts := clock_timestamp();

  IF v_n > 1 AND NOT p_peek THEN
    -- Members are applied one by one (so two members on one state see each other), and undone together
    -- when any is denied: the sub-block's writes roll back, the results gathered in variables stay.
    BEGIN
      FOR v_i IN 1..v_n LOOP
        SELECT * INTO v_step FROM ${names.stepFunction}(p_limiter[v_i], p_key[v_i], p_tag[v_i], p_kind[v_i],
          p_a[v_i], p_b[v_i], p_cost[v_i], p_lease[v_i], p_max_wait, v_now_ts, true, false);
        r_allowed := r_allowed || v_step.allowed;
        r_lim := r_lim || v_step.lim;
        r_remaining := r_remaining || v_step.remaining;
        r_reset := r_reset || v_step.reset_after_ms;
        r_retry := r_retry || v_step.retry_after_ms;
        r_wait := r_wait || v_step.wait_ms;
        v_all := v_all AND v_step.allowed;
      END LOOP;
      IF NOT v_all THEN
        RAISE SQLSTATE '${DENIED_SQLSTATE}';
      END IF;
    EXCEPTION WHEN SQLSTATE '${DENIED_SQLSTATE}' THEN
      NULL;
    END;
  ELSE
    FOR v_i IN 1..v_n LOOP
      SELECT * INTO v_step FROM ${names.stepFunction}(p_limiter[v_i], p_key[v_i], p_tag[v_i], p_kind[v_i],
        p_a[v_i], p_b[v_i], p_cost[v_i], p_lease[v_i], p_max_wait, v_now_ts, NOT p_peek, p_peek);
      r_allowed := r_allowed || v_step.allowed;
      r_lim := r_lim || v_step.lim;
      r_remaining := r_remaining || v_step.remaining;
      r_reset := r_reset || v_step.reset_after_ms;
      r_retry := r_retry || v_step.retry_after_ms;
      r_wait := r_wait || v_step.wait_ms;
    END LOOP;
  END IF;

  RETURN QUERY
    SELECT u.a, u.l, u.r, u.re, u.rt, u.w, (extract(epoch FROM v_now_ts) * 1000)::double precision
      FROM unnest(r_allowed, r_lim, r_remaining, r_reset, r_retry, r_wait) WITH ORDINALITY AS u(a, l, r, re, rt, w, o)
     ORDER BY u.o;
END
$fn$`;
}
