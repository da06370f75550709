/**
 * @module
 * `<table>_refund`: gives back what an allowed decision consumed, as well as each algorithm can. Used when a
 * composite spans stores and a later member denies. Same locking order as a decision; one statement.
 *
 * - Buckets move the theoretical arrival time back by `cost * intervalMs` (never before now: a full bucket
 *   stays full).
 * - Fixed window and sliding counter take `cost` off the current window's count (a window that has already
 *   ended needs nothing).
 * - The sliding log removes `cost` units from its newest entries.
 * - Concurrency releases the lease.
 *
 * Returns the store time it used, in ms.
 */

import type { PostgresNames } from "./identifiers.ts";

/** The `CREATE FUNCTION` statement of the refund function. */
export function refundFunctionSql(names: PostgresNames): string {
  const t = names.table;
  const row = "s.limiter_id = p_limiter[v_i] AND s.key = p_key[v_i] AND s.tag = p_tag[v_i]";
  return `CREATE OR REPLACE FUNCTION ${names.refundFunction}(
  p_limiter text[], p_key text[], p_tag text[], p_kind text[], p_a double precision[], p_b double precision[],
  p_cost double precision[], p_lease text[])
RETURNS double precision
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_n integer := coalesce(cardinality(p_key), 0);
  v_now double precision;
  v_row record;
  v_tat double precision;
  v_ws double precision;
  v_used double precision;
  v_log double precision[];
  v_left double precision;
  v_len integer;
  v_j integer;
BEGIN
  -- Same global order as decisions, so a refund never deadlocks with them.
  FOR v_row IN
    SELECT u.l, u.k, u.t FROM unnest(p_limiter, p_key, p_tag) AS u(l, k, t)
     ORDER BY u.l COLLATE "C", u.k COLLATE "C", u.t COLLATE "C"
  LOOP
    PERFORM FROM ${t} AS s
     WHERE s.limiter_id = v_row.l AND s.key = v_row.k AND s.tag = v_row.t AND s.lease_id = '' FOR UPDATE;
  END LOOP;
  v_now := (extract(epoch FROM clock_timestamp()) * 1000)::double precision;

  FOR v_i IN 1..v_n LOOP
    IF p_kind[v_i] = 'concurrency' THEN
      DELETE FROM ${t} AS s WHERE ${row} AND s.lease_id = p_lease[v_i] AND p_lease[v_i] <> '';
      CONTINUE;
    END IF;
    SELECT s.tat, s.window_start, s.used, s.log INTO v_tat, v_ws, v_used, v_log
      FROM ${t} AS s WHERE ${row} AND s.lease_id = '';
    IF NOT FOUND THEN
      CONTINUE;
    END IF;
    IF p_kind[v_i] IN ('token_bucket', 'leaky_bucket') THEN
      IF v_tat IS NOT NULL AND v_tat > v_now THEN
        UPDATE ${t} AS s SET tat = greatest(v_now, v_tat - p_cost[v_i] * p_a[v_i])
         WHERE ${row} AND s.lease_id = '';
      END IF;
    ELSIF p_kind[v_i] IN ('fixed_window', 'sliding_window_counter') THEN
      IF v_ws = floor(v_now / p_b[v_i]) * p_b[v_i] AND v_used IS NOT NULL THEN
        UPDATE ${t} AS s SET used = greatest(0, v_used - p_cost[v_i]) WHERE ${row} AND s.lease_id = '';
      END IF;
    ELSIF p_kind[v_i] = 'sliding_window' THEN
      -- drop expired entries, then remove the newest entry of exactly this cost (the call being refunded,
      -- most likely), else take the cost off the newest entries
      v_len := coalesce(array_length(v_log, 1), 0);
      v_j := 1;
      WHILE v_j <= v_len AND v_log[v_j] <= v_now - p_b[v_i] LOOP
        v_j := v_j + 2;
      END LOOP;
      v_log := CASE WHEN v_j > v_len THEN '{}'::double precision[] ELSE v_log[v_j:v_len] END;
      v_len := coalesce(array_length(v_log, 1), 0);
      v_left := p_cost[v_i];
      v_j := v_len - 1;
      WHILE v_j >= 1 LOOP
        IF v_log[v_j + 1] = v_left THEN
          v_log := v_log[1:v_j - 1] || v_log[v_j + 2:v_len];
          v_len := v_len - 2;
          v_left := 0;
          EXIT;
        END IF;
        v_j := v_j - 2;
      END LOOP;
      WHILE v_left > 0 AND v_len >= 2 LOOP
        IF v_log[v_len] <= v_left THEN
          v_left := v_left - v_log[v_len];
          v_len := v_len - 2;
        ELSE
          v_log[v_len] := v_log[v_len] - v_left;
          v_left := 0;
        END IF;
      END LOOP;
      UPDATE ${t} AS s SET log = CASE WHEN v_len > 0 THEN v_log[1:v_len] ELSE '{}' END
       WHERE ${row} AND s.lease_id = '';
    END IF;
  END LOOP;
  -- the store time of the refund, for tests that replay it on the reference model
  RETURN v_now;
END
$fn$`;
}
