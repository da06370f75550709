/**
 * @module
 * `<table>_refund`: gives back what an allowed decision consumed, as well as each algorithm can. Used when a
 * composite spans stores and a later member denies. Same locking order as a decision; one statement. Each
 * algorithm's refund is its `sql.ts`'s (registry entry `sql.refund`):
 *
 * - Buckets move the theoretical arrival time back by `cost * intervalMs` (never before now: a full bucket
 *   stays full).
 * - Fixed window and sliding counter take `cost` off the current window's count (a window that has already
 *   ended needs nothing).
 * - The sliding log removes `cost` units from its newest entries.
 * - Concurrency releases the lease.
 *
 * A negative cost is a charge (`Store.charge`): buckets move `tat` later from `max(tat, now)`, windows count more
 * in the current window, the sliding log counts the units at its newest entry (or a new one at now), adaptive
 * does both of a bucket and a window; the row is created when there is none and its expiry extended.
 *
 * Returns the store time it used, in ms.
 */

import { ALGORITHM_SPECS } from "../../algorithms/registry.ts";
import { TABLE_FUNCTION_SETTINGS } from "./functions-sql.ts";
import type { PostgresNames } from "./identifiers.ts";

/** One `IF p_kind[v_i] = '<kind>'` branch per algorithm, each running the algorithm's `sql.refund`. */
function refundBranchesSql(table: string, row: string): string {
  const branches = ALGORITHM_SPECS.map(
    (spec, i) =>
      `    ${i === 0 ? "IF" : "ELSIF"} p_kind[v_i] = '${spec.name}' THEN\n      ${spec.sql.refund(table, row)}\n`,
  );
  return `${branches.join("")}    END IF;`;
}

/** The `CREATE FUNCTION` statement of the refund function. */
export function refundFunctionSql(names: PostgresNames): string {
  const t = names.table;
  const row = "s.limiter_id = p_limiter[v_i] AND s.key = p_key[v_i] AND s.tag = p_tag[v_i]";
  return `CREATE OR REPLACE FUNCTION ${names.refundFunction}(
  p_limiter text[], p_key text[], p_tag text[], p_kind text[], p_a double precision[], p_b double precision[],
  p_cost double precision[], p_lease text[])
RETURNS double precision
LANGUAGE plpgsql VOLATILE
${TABLE_FUNCTION_SETTINGS}
AS $fn$
DECLARE
  v_n integer := coalesce(cardinality(p_key), 0);
  v_now double precision;
  v_row record;
  v_tat double precision;
  v_ws double precision;
  v_used double precision;
  v_prev double precision;
  v_log double precision[];
  v_left double precision;
  v_len integer;
  v_j integer;
BEGIN
  -- Same global order as decisions, so a refund never deadlocks with them. A charge (a negative cost) starts
  -- from an empty row where there is none, inserted here in that same order.
  FOR v_row IN
    SELECT u.l, u.k, u.t, u.c FROM unnest(p_limiter, p_key, p_tag, p_cost) AS u(l, k, t, c)
     ORDER BY u.l COLLATE "C", u.k COLLATE "C", u.t COLLATE "C"
  LOOP
    IF v_row.c < 0 THEN
      INSERT INTO ${t} AS s (limiter_id, key, tag, lease_id, expires_at)
      VALUES (v_row.l, v_row.k, v_row.t, '', '-infinity')
      ON CONFLICT (limiter_id, key, tag, lease_id) DO NOTHING;
    END IF;
    PERFORM FROM ${t} AS s
     WHERE s.limiter_id = v_row.l AND s.key = v_row.k AND s.tag = v_row.t AND s.lease_id = '' FOR UPDATE;
  END LOOP;
  v_now := (extract(epoch FROM clock_timestamp()) * 1000)::double precision;

  FOR v_i IN 1..v_n LOOP
    IF p_kind[v_i] = 'concurrency' THEN
      DELETE FROM ${t} AS s WHERE ${row} AND s.lease_id = p_lease[v_i] AND p_lease[v_i] <> '';
      CONTINUE;
    END IF;
    SELECT s.tat, s.window_start, s.used, s.previous, s.log INTO v_tat, v_ws, v_used, v_prev, v_log
      FROM ${t} AS s WHERE ${row} AND s.lease_id = '';
    -- Nothing to give back. A charge's row was inserted and locked above: only a sweep deleting an expired row
    -- between that insert (which found it) and the lock leaves none, and that charge is then lost.
    IF NOT FOUND THEN
      CONTINUE;
    END IF;
${refundBranchesSql(t, row)}
  END LOOP;
  -- the store time of the refund, for tests that replay it on the reference model
  RETURN v_now;
END
$fn$`;
}
