/**
 * @module
 * `<table>_decide_batch`: many calls, each one whole decision (one op or a composite, with its own `maxWaitMs`),
 * decided in one statement and committed once. The store sends every decision of one event-loop turn this way
 * (see `postgres-driver.ts`), so the fixed cost of a statement, a transaction and a commit is paid once per turn.
 *
 * What it guarantees, per call, is exactly what `<table>_decide` guarantees for that call alone:
 * - every row of the batch is locked once, in one global (bytewise) order, so two batches sharing rows queue
 *   instead of deadlocking, whatever processes send them;
 * - the clock is read once, after the locks are held (see `<table>_decide` for why);
 * - calls are applied in arrival order, each on the state the earlier ones left: the batch equals the same calls
 *   one after the other at one instant;
 * - a call is all or nothing: a denied member leaves the state of every member of its call as it was;
 * - a denial writes nothing, and each changed row is written once, at the end.
 *
 * The rate math is the text of `<table>_rate` (`rateBodySql`) spliced into the loop, and concurrency the step of
 * `src/algorithms/concurrency/sql.ts`: one encoding of each algorithm. Rate state is held in memory (an array of
 * the table's row type, one element per locked row) while the calls run, so a hot key costs one lock, one read
 * and one write per batch however many calls hit it. Concurrency counts live lease rows, so its members read and
 * write the table; a composite holding one runs in a sub-block whose writes roll back when the call is denied.
 */

import { CONCURRENCY } from "../../algorithms/registry.ts";
import { TIME_EPSILON_MS } from "../../algorithms/types.ts";
import { DENIED_SQLSTATE, LOCK_SQLSTATE, rateBodySql } from "./functions-sql.ts";
import type { PostgresNames } from "./identifiers.ts";
import { rateStepDeclarationsSql } from "./rate-sql.ts";

/** The parameters of `<table>_decide_batch` as SQL types, in order (also its `regprocedure` signature). */
export const DECIDE_BATCH_ARGUMENTS =
  "(integer[], text[], text[], text[], text[], double precision[], double precision[], double precision[], text[], double precision[])";

/** One op of the batch (`x_j`) decided on the batch's state, its result appended to the `r_*` arrays. */
function opSql(t: string): string {
  return `IF b_kind[x_j] = 'concurrency' THEN
        p_limiter := b_limiter[x_j];
        p_key := b_key[x_j];
        p_tag := b_tag[x_j];
        p_a := b_a[x_j];
        p_b := b_b[x_j];
        p_lease := b_lease[x_j];
${CONCURRENCY.sql.step(t)}        remaining := greatest(0, floor(remaining + v_eps));
      ELSE
        x_r := x_op_row[x_j];
        p_kind := b_kind[x_j];
        p_a := b_a[x_j];
        p_b := b_b[x_j];
        p_cost := b_cost[x_j];
        p_tat := (x_st[x_r]).tat;
        p_window_start := (x_st[x_r]).window_start;
        p_used := (x_st[x_r]).used;
        p_previous := (x_st[x_r]).previous;
        p_log := (x_st[x_r]).log;
${rateBodySql()}
        IF allowed THEN
          IF x_multi THEN
            x_undo_row := x_undo_row || x_r;
            x_undo_st := x_undo_st || x_st[x_r];
            x_undo_dirty := x_undo_dirty || x_dirty[x_r];
          END IF;
          x_st[x_r].tat := new_tat;
          x_st[x_r].window_start := new_window_start;
          x_st[x_r].used := new_used;
          x_st[x_r].previous := new_previous;
          x_st[x_r].log := new_log;
          x_st[x_r].expires_at := x_now_ts + ttl_ms * interval '1 millisecond';
          x_dirty[x_r] := true;
        END IF;
      END IF;
      r_allowed := r_allowed || allowed;
      r_lim := r_lim || lim;
      r_remaining := r_remaining || remaining;
      r_reset := r_reset || reset_after_ms;
      r_retry := r_retry || retry_after_ms;
      r_wait := r_wait || wait_ms;
      x_all := x_all AND allowed;`;
}

/** The in-memory state of the call's allowed members put back as it was (newest change first). */
const undoSql = `FOR x_u IN REVERSE coalesce(cardinality(x_undo_row), 0)..1 LOOP
        x_st[x_undo_row[x_u]] := x_undo_st[x_u];
        x_dirty[x_undo_row[x_u]] := x_undo_dirty[x_u];
      END LOOP;`;

/**
 * The `CREATE FUNCTION` statement of `<table>_decide_batch`. Parameters: per op the call it belongs to
 * (`b_call`, 1-based, the ops of one call adjacent and calls in arrival order) and the op's columns as
 * `<table>_decide` takes them; per call its `maxWaitMs` (`b_max_wait[call]`). Returns one row per op, in order,
 * each with the store time of the batch.
 */
export function decideBatchFunctionSql(names: PostgresNames): string {
  const t = names.table;
  const op = opSql(t);
  return `CREATE OR REPLACE FUNCTION ${names.decideBatchFunction}(
  b_call integer[], b_limiter text[], b_key text[], b_tag text[], b_kind text[], b_a double precision[],
  b_b double precision[], b_cost double precision[], b_lease text[], b_max_wait double precision[])
RETURNS TABLE (allowed boolean, lim double precision, remaining double precision,
  reset_after_ms double precision, retry_after_ms double precision, wait_ms double precision,
  now_ms double precision)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  x_n integer := coalesce(cardinality(b_key), 0);
  x_rows integer;
  x_l text[];
  x_k text[];
  x_t text[];
  x_op_row integer[];
  x_st ${t}[] := '{}';
  x_dirty boolean[] := '{}';
  x_got boolean;
  x_rec ${t};
  x_now_ts timestamptz;
  x_i integer;
  x_first integer;
  x_last integer;
  x_r integer;
  x_all boolean;
  x_multi boolean;
  x_cc boolean;
  x_undo_row integer[];
  x_undo_st ${t}[];
  x_undo_dirty boolean[];
  r_allowed boolean[] := '{}';
  r_lim double precision[] := '{}';
  r_remaining double precision[] := '{}';
  r_reset double precision[] := '{}';
  r_retry double precision[] := '{}';
  r_wait double precision[] := '{}';
  -- the inputs and outputs of the rate math (<table>_rate's parameters, as variables)
  p_kind text;
  p_a double precision;
  p_b double precision;
  p_cost double precision;
  p_max_wait double precision;
  p_now double precision;
  p_tat double precision;
  p_window_start double precision;
  p_used double precision;
  p_previous double precision;
  p_log double precision[];
  ttl_ms double precision;
  new_tat double precision;
  new_window_start double precision;
  new_used double precision;
  new_previous double precision;
  new_log double precision[];
  -- the inputs of the concurrency step (<table>_step's parameters and variables)
  p_limiter text;
  p_key text;
  p_tag text;
  p_lease text;
  p_now_ts timestamptz;
  p_write CONSTANT boolean := true;
  p_peek CONSTANT boolean := false;
  v_now double precision;
  v_eps CONSTANT double precision := ${TIME_EPSILON_MS};
  v_live integer;
  v_min_exp timestamptz;
  v_max_exp timestamptz;
  v_new_exp timestamptz;
  -- the variables of every algorithm's math (each algorithm's sql.ts)
${rateStepDeclarationsSql()}
BEGIN
  IF x_n = 0 THEN
    RETURN;
  END IF;
  -- The distinct rows in the one global (bytewise) lock order, and each op's row among them.
  SELECT array_agg(d.l ORDER BY d.n), array_agg(d.k ORDER BY d.n), array_agg(d.t ORDER BY d.n)
    INTO x_l, x_k, x_t
    FROM (SELECT u.l, u.k, u.t,
                 row_number() OVER (ORDER BY u.l COLLATE "C", u.k COLLATE "C", u.t COLLATE "C") AS n
            FROM (SELECT DISTINCT v.l, v.k, v.t FROM unnest(b_limiter, b_key, b_tag) AS v(l, k, t)) AS u) AS d;
  x_rows := cardinality(x_k);
  SELECT array_agg(d.n ORDER BY u.o) INTO x_op_row
    FROM unnest(b_limiter, b_key, b_tag) WITH ORDINALITY AS u(l, k, t, o)
    JOIN unnest(x_l, x_k, x_t) WITH ORDINALITY AS d(l, k, t, n) ON d.l = u.l AND d.k = u.k AND d.t = u.t;

  -- Lock and read each row in that order, inserting it only when missing. The loop covers the background sweep
  -- deleting an expired row between the two statements (it then simply gets inserted again); only this row is
  -- retried, so the order holds.
  FOR x_j IN 1..x_rows LOOP
    x_got := false;
    FOR x_attempt IN 1..8 LOOP
      SELECT s.* INTO x_rec FROM ${t} AS s
       WHERE s.limiter_id = x_l[x_j] AND s.key = x_k[x_j] AND s.tag = x_t[x_j] AND s.lease_id = ''
         FOR UPDATE;
      IF FOUND THEN
        x_got := true;
        EXIT;
      END IF;
      INSERT INTO ${t} AS s (limiter_id, key, tag, lease_id, expires_at)
      VALUES (x_l[x_j], x_k[x_j], x_t[x_j], '', '-infinity')
      ON CONFLICT (limiter_id, key, tag, lease_id) DO NOTHING;
    END LOOP;
    IF NOT x_got THEN
      RAISE EXCEPTION 'rate-sync: could not lock a state row' USING ERRCODE = '${LOCK_SQLSTATE}';
    END IF;
    x_st[x_j] := x_rec;
    x_dirty[x_j] := false;
  END LOOP;

  x_now_ts := clock_timestamp();
  p_now_ts := x_now_ts;
  v_now := (extract(epoch FROM x_now_ts) * 1000)::double precision;
  p_now := v_now;

  -- The calls in arrival order, each all or nothing.
  x_i := 1;
  WHILE x_i <= x_n LOOP
    x_first := x_i;
    x_last := x_i;
    x_cc := b_kind[x_i] = 'concurrency';
    WHILE x_last < x_n AND b_call[x_last + 1] = b_call[x_first] LOOP
      x_last := x_last + 1;
      x_cc := x_cc OR b_kind[x_last] = 'concurrency';
    END LOOP;
    x_i := x_last + 1;
    p_max_wait := b_max_wait[b_call[x_first]];
    x_multi := x_last > x_first;
    x_all := true;
    x_undo_row := '{}';
    x_undo_st := '{}';
    x_undo_dirty := '{}';
    IF x_multi AND x_cc THEN
      -- Lease rows are written as the members go: a denied call rolls the sub-block back (the results
      -- gathered in variables stay) and puts its members' in-memory state back.
      BEGIN
        FOR x_j IN x_first..x_last LOOP
      ${op}
        END LOOP;
        IF NOT x_all THEN
          RAISE SQLSTATE '${DENIED_SQLSTATE}';
        END IF;
      EXCEPTION WHEN SQLSTATE '${DENIED_SQLSTATE}' THEN
      ${undoSql}
      END;
    ELSE
      FOR x_j IN x_first..x_last LOOP
      ${op}
      END LOOP;
      IF x_multi AND NOT x_all THEN
      ${undoSql}
      END IF;
    END IF;
  END LOOP;

  -- Each changed row written once, in lock order.
  FOR x_j IN 1..x_rows LOOP
    IF x_dirty[x_j] THEN
      UPDATE ${t} AS s SET tat = (x_st[x_j]).tat, window_start = (x_st[x_j]).window_start,
             used = (x_st[x_j]).used, previous = (x_st[x_j]).previous, log = (x_st[x_j]).log,
             expires_at = (x_st[x_j]).expires_at
       WHERE s.limiter_id = x_l[x_j] AND s.key = x_k[x_j] AND s.tag = x_t[x_j] AND s.lease_id = '';
    END IF;
  END LOOP;

  RETURN QUERY
    SELECT u.a, u.l, u.r, u.re, u.rt, u.w, v_now
      FROM unnest(r_allowed, r_lim, r_remaining, r_reset, r_retry, r_wait) WITH ORDINALITY AS u(a, l, r, re, rt, w, o)
     ORDER BY u.o;
END
$fn$`;
}
