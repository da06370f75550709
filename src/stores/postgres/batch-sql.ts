/**
 * @module
 * `<table>_decide_batch`: many calls, each one whole decision (one op or a composite, with its own `maxWaitMs`),
 * decided in one statement and committed once. The store sends every decision of one event-loop turn this way
 * (see `postgres-driver.ts`), so the fixed cost of a statement, a transaction and a commit is paid once per turn.
 *
 * What it guarantees, per call, is exactly what `<table>_decide` guarantees for that call alone:
 * - every row of the batch is locked once, in one global (bytewise) order, so two batches sharing rows queue
 *   instead of deadlocking, whatever processes send them. Locking is two set-based statements: one inserts the
 *   rows that are missing (in that order; it waits only for other inserters and for writers that hold all their
 *   locks already), one locks every row in that order and reads its state;
 * - the clock is read once, after the locks are held (see `<table>_decide` for why);
 * - calls are applied in arrival order, each on the state the earlier ones left: the batch equals the same calls
 *   one after the other at one instant;
 * - a call is all or nothing: a denied member leaves the state of every member of its call as it was;
 * - a denial writes nothing — except a block it starts (`block`, `block_escalation`: the block op of the call,
 *   see `src/algorithms/block/sql.ts`) — and each changed row is written once, at the end.
 *
 * The rate math is the text of `<table>_rate` (`rateBodySql`) spliced into the loop, and concurrency the step of
 * `src/algorithms/concurrency/sql.ts`: one encoding of each algorithm. Rate state is held in memory (arrays with
 * one element per locked row) while the calls run, and the changed rows are written by one set-based UPDATE, so
 * a hot key costs one lock, one read and one write per batch however many calls hit it. Concurrency counts live lease rows, so its members read and
 * write the table; a composite holding one runs in a sub-block whose writes roll back when the call is denied.
 */

import {
  BLOCK_CHECK_SQL,
  BLOCK_DECLARATIONS_SQL,
  BLOCK_KIND,
  blockStartSql,
} from "../../algorithms/block/sql.ts";
import { CONCURRENCY } from "../../algorithms/registry.ts";
import { TIME_EPSILON_MS } from "../../algorithms/types.ts";
import { DENIED_SQLSTATE, LOCK_SQLSTATE, rateBodySql, TABLE_FUNCTION_SETTINGS } from "./functions-sql.ts";
import type { PostgresNames } from "./identifiers.ts";
import { rateStepDeclarationsSql } from "./rate-sql.ts";

/** The parameters of `<table>_decide_batch` as SQL types, in order (also its `regprocedure` signature). */
export const DECIDE_BATCH_ARGUMENTS =
  "(integer[], integer[], text[], text[], text[], text[], double precision[], double precision[], double precision[], text[], double precision[])";

/** One op of the batch (`x_j`) decided on the batch's state, its result stored at `r_*[x_j]`. */
function opSql(t: string): string {
  return `x_r := b_row[x_j];
      IF b_kind[x_j] = '${BLOCK_KIND}' THEN
        ${BLOCK_CHECK_SQL}
      ELSIF b_kind[x_j] = 'concurrency' THEN
        p_limiter := d_limiter[x_r];
        p_key := d_key[x_r];
        p_tag := d_tag[x_r];
        p_a := b_a[x_j];
        p_b := b_b[x_j];
        p_lease := b_lease[x_j];
${CONCURRENCY.sql.step(t)}        remaining := greatest(0, floor(remaining + v_eps));
      ELSE
        p_kind := b_kind[x_j];
        p_tag := d_tag[x_r];
        p_a := b_a[x_j];
        p_b := b_b[x_j];
        p_cost := b_cost[x_j];
        p_tat := x_tat[x_r];
        p_window_start := x_ws[x_r];
        p_used := x_used[x_r];
        p_previous := x_prev[x_r];
        p_log := (x_lg[x_r]).log;
${rateBodySql()}
        IF allowed THEN
          IF x_multi THEN
            x_u := x_u + 1;
            x_undo_row[x_u] := x_r;
            x_undo_tat[x_u] := x_tat[x_r];
            x_undo_ws[x_u] := x_ws[x_r];
            x_undo_used[x_u] := x_used[x_r];
            x_undo_prev[x_u] := x_prev[x_r];
            x_undo_lg[x_u] := x_lg[x_r];
            x_undo_exp[x_u] := x_exp[x_r];
            x_undo_dirty[x_u] := x_dirty[x_r];
          END IF;
          x_tat[x_r] := new_tat;
          x_ws[x_r] := new_window_start;
          x_used[x_r] := new_used;
          x_prev[x_r] := new_previous;
          IF new_log IS DISTINCT FROM p_log THEN
            x_lg[x_r].log := new_log;
          END IF;
          x_exp[x_r] := x_now_ts + ttl_ms * interval '1 millisecond';
          x_dirty[x_r] := true;
        END IF;
      END IF;
      r_allowed[x_j] := allowed;
      r_lim[x_j] := lim;
      r_remaining[x_j] := remaining;
      r_reset[x_j] := reset_after_ms;
      r_retry[x_j] := retry_after_ms;
      r_wait[x_j] := wait_ms;
      x_all := x_all AND allowed;`;
}

/** The in-memory state of the call's allowed members put back as it was (newest change first). */
const undoSql = `FOR x_v IN REVERSE x_u..1 LOOP
        x_r := x_undo_row[x_v];
        x_tat[x_r] := x_undo_tat[x_v];
        x_ws[x_r] := x_undo_ws[x_v];
        x_used[x_r] := x_undo_used[x_v];
        x_prev[x_r] := x_undo_prev[x_v];
        x_lg[x_r] := x_undo_lg[x_v];
        x_exp[x_r] := x_undo_exp[x_v];
        x_dirty[x_r] := x_undo_dirty[x_v];
      END LOOP;`;

/**
 * The `CREATE FUNCTION` statement of `<table>_decide_batch`. Parameters: per op the call it belongs to (`b_call`,
 * 1-based, the ops of one call adjacent and calls in arrival order) and its row (`b_row`, an index into the
 * distinct rows `d_limiter`, `d_key`, `d_tag`, in any order: the function sorts them), then the op's columns as
 * `<table>_decide` takes them; per call its `maxWaitMs` (`b_max_wait[call]`). Returns one row per op, in order,
 * each with the store time of the batch.
 */
export function decideBatchFunctionSql(names: PostgresNames): string {
  const t = names.table;
  const op = opSql(t);
  const order = `u.l COLLATE "C", u.k COLLATE "C", u.t COLLATE "C"`;
  const rows = `unnest(d_limiter, d_key, d_tag) WITH ORDINALITY AS u(l, k, t, n)`;
  return `CREATE OR REPLACE FUNCTION ${names.decideBatchFunction}(
  b_call integer[], b_row integer[], d_limiter text[], d_key text[], d_tag text[], b_kind text[],
  b_a double precision[], b_b double precision[], b_cost double precision[], b_lease text[],
  b_max_wait double precision[])
RETURNS TABLE (allowed boolean, lim double precision, remaining double precision,
  reset_after_ms double precision, retry_after_ms double precision, wait_ms double precision,
  now_ms double precision)
LANGUAGE plpgsql VOLATILE
${TABLE_FUNCTION_SETTINGS}
AS $fn$
DECLARE
  x_n integer := coalesce(cardinality(b_row), 0);
  x_rows integer := coalesce(cardinality(d_key), 0);
  x_tat double precision[];
  x_ws double precision[];
  x_used double precision[];
  x_prev double precision[];
  x_lg ${t}[];
  x_exp timestamptz[];
  x_dirty boolean[];
  x_found integer := 0;
  x_got boolean;
  x_rec record;
  x_now_ts timestamptz;
  x_i integer;
  x_first integer;
  x_last integer;
  x_r integer;
  x_u integer;
  x_all boolean;
  x_multi boolean;
  x_cc boolean;
  x_undo_row integer[];
  x_undo_tat double precision[];
  x_undo_ws double precision[];
  x_undo_used double precision[];
  x_undo_prev double precision[];
  x_undo_lg ${t}[];
  x_undo_exp timestamptz[];
  x_undo_dirty boolean[];
  r_allowed boolean[];
  r_lim double precision[];
  r_remaining double precision[];
  r_reset double precision[];
  r_retry double precision[];
  r_wait double precision[];
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
  -- the variables of every algorithm's math (each algorithm's sql.ts), and of blocks
${rateStepDeclarationsSql()}
${BLOCK_DECLARATIONS_SQL}
BEGIN
  IF x_n = 0 THEN
    RETURN;
  END IF;
  x_dirty := array_fill(false, ARRAY[x_rows]);
  -- The rows that are missing, inserted in the lock order. Rows that exist are left alone (no lock, no write).
  INSERT INTO ${t} AS s (limiter_id, key, tag, lease_id, expires_at)
  SELECT u.l, u.k, u.t, '', '-infinity' FROM ${rows} ORDER BY ${order}
  ON CONFLICT (limiter_id, key, tag, lease_id) DO NOTHING;
  -- Every row locked in that order (the sort runs below the lock), its state read.
  FOR x_rec IN
    SELECT u.n, s.tat, s.window_start, s.used, s.previous, s.log, s.expires_at
      FROM ${rows} JOIN ${t} AS s
        ON s.limiter_id = u.l AND s.key = u.k AND s.tag = u.t AND s.lease_id = ''
     ORDER BY ${order}
       FOR UPDATE OF s
  LOOP
    x_found := x_found + 1;
    x_tat[x_rec.n] := x_rec.tat;
    x_ws[x_rec.n] := x_rec.window_start;
    x_used[x_rec.n] := x_rec.used;
    x_prev[x_rec.n] := x_rec.previous;
    IF x_rec.log IS NOT NULL THEN
      x_lg[x_rec.n].log := x_rec.log;
    END IF;
    x_exp[x_rec.n] := x_rec.expires_at;
  END LOOP;
  IF x_found < x_rows THEN
    -- The background sweep deleted an expired row between the two statements: insert and lock it again.
    FOR x_j IN 1..x_rows LOOP
      CONTINUE WHEN x_exp[x_j] IS NOT NULL;
      x_got := false;
      FOR x_attempt IN 1..8 LOOP
        INSERT INTO ${t} AS s (limiter_id, key, tag, lease_id, expires_at)
        VALUES (d_limiter[x_j], d_key[x_j], d_tag[x_j], '', '-infinity')
        ON CONFLICT (limiter_id, key, tag, lease_id) DO NOTHING;
        SELECT s.tat, s.window_start, s.used, s.previous, s.log, s.expires_at INTO x_rec FROM ${t} AS s
         WHERE s.limiter_id = d_limiter[x_j] AND s.key = d_key[x_j] AND s.tag = d_tag[x_j] AND s.lease_id = ''
           FOR UPDATE;
        IF FOUND THEN
          x_got := true;
          EXIT;
        END IF;
      END LOOP;
      IF NOT x_got THEN
        RAISE EXCEPTION 'rate-sync: could not lock a state row' USING ERRCODE = '${LOCK_SQLSTATE}';
      END IF;
      x_tat[x_j] := x_rec.tat;
      x_ws[x_j] := x_rec.window_start;
      x_used[x_j] := x_rec.used;
      x_prev[x_j] := x_rec.previous;
      x_lg[x_j].log := x_rec.log;
      x_exp[x_j] := x_rec.expires_at;
    END LOOP;
  END IF;

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
    x_u := 0;
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
    ${blockStartSql()}
  END LOOP;

  -- Every changed row written once, by one statement.
  UPDATE ${t} AS s SET tat = w.tat, window_start = w.ws, used = w.used, previous = w.prev,
         log = (x_lg[w.n]).log, expires_at = w.exp
    FROM unnest(d_limiter, d_key, d_tag, x_tat, x_ws, x_used, x_prev, x_exp, x_dirty) WITH ORDINALITY
         AS w(l, k, t, tat, ws, used, prev, exp, dirty, n)
   WHERE w.dirty AND s.limiter_id = w.l AND s.key = w.k AND s.tag = w.t AND s.lease_id = '';

  RETURN QUERY
    SELECT u.a, u.l, u.r, u.re, u.rt, u.w, v_now
      FROM unnest(r_allowed, r_lim, r_remaining, r_reset, r_retry, r_wait) WITH ORDINALITY AS u(a, l, r, re, rt, w, o)
     ORDER BY u.o;
END
$fn$`;
}
