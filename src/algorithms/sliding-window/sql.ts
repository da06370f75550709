/**
 * @module
 * The sliding window log in SQL, for the PostgreSQL store (a PL/pgSQL block of `<table>_rate`: its loops over the
 * log have no plain-SQL form). Encodes `decide.ts` exactly; the reference-model test compares the two.
 */

/**
 * The exact log in `<table>_rate`: `a = limit (L)`, `b = windowMs (W)`; `p_log = [t0, c0, t1, c1, …]` oldest
 * first. Sets the function's OUT values (`allowed`, `lim`, `remaining`, `reset_after_ms`, `retry_after_ms`,
 * `ttl_ms`, `new_log`) itself.
 */
export const SLIDING_WINDOW_BLOCK = `    -- exact log: a = limit (L), b = windowMs (W); log = [t0, c0, t1, c1, ...] oldest first
    lim := p_a;
    v_len := coalesce(array_length(p_log, 1), 0);
    v_i := 1;
    WHILE v_i <= v_len AND p_log[v_i] <= p_now - p_b LOOP
      v_i := v_i + 2;
    END LOOP;
    IF v_i > v_len THEN
      p_log := '{}';
    ELSIF v_i > 1 THEN
      p_log := p_log[v_i:v_len];
    END IF;
    v_len := coalesce(array_length(p_log, 1), 0);
    v_acc := 0;
    v_i := 2;
    WHILE v_i <= v_len LOOP
      v_acc := v_acc + p_log[v_i];
      v_i := v_i + 2;
    END LOOP;
    v_newest := CASE WHEN v_len > 0 THEN p_log[v_len - 1] END;
    v_cur_remaining := p_a - v_acc;
    v_cur_reset := CASE WHEN v_len > 0 THEN v_newest + p_b - p_now ELSE 0 END;
    IF p_cost > p_a THEN
      retry_after_ms := 'Infinity';
    ELSIF v_acc + p_cost <= p_a THEN
      allowed := true;
    ELSE
      -- the first entry whose expiry frees enough room for this cost
      v_count := v_acc;
      v_i := 1;
      WHILE v_i <= v_len LOOP
        v_count := v_count - p_log[v_i + 1];
        IF v_count + p_cost <= p_a THEN
          retry_after_ms := p_log[v_i] + p_b - p_now;
          EXIT;
        END IF;
        v_i := v_i + 2;
      END LOOP;
    END IF;
    IF allowed THEN
      -- keep the log sorted even if the server clock stepped back (failover)
      v_new := CASE WHEN v_len > 0 THEN greatest(p_now, v_newest) ELSE p_now END;
      remaining := p_a - v_acc - p_cost;
      reset_after_ms := v_new + p_b - p_now;
      ttl_ms := v_new + p_b - p_now;
      new_log := p_log || ARRAY[v_new, p_cost];
    ELSE
      remaining := v_cur_remaining;
      reset_after_ms := v_cur_reset;
    END IF;
`;

/** The variables {@link SLIDING_WINDOW_BLOCK} uses, by name → type (shared names must agree on the type). */
export const SLIDING_WINDOW_DECLARATIONS: Readonly<Record<string, string>> = {
  v_len: "integer",
  v_i: "integer",
  v_acc: "double precision",
  v_newest: "double precision",
  v_count: "double precision",
  v_new: "double precision",
  v_cur_remaining: "double precision",
  v_cur_reset: "double precision",
};

/**
 * Refund: drops expired entries, then removes the newest entry of exactly this cost (the call being refunded,
 * most likely), else takes the cost off the newest entries. A negative cost is a charge: `-cost` counted at the
 * newest entry when it is at or after now, else as a new entry at now (see `refundSlidingWindow`). See
 * `SqlPieces.refund`.
 */
export function slidingWindowRefundSql(table: string, row: string): string {
  return `-- drop expired entries, then remove the newest entry of exactly this cost (the call being refunded,
      -- most likely), else take the cost off the newest entries
      v_len := coalesce(array_length(v_log, 1), 0);
      v_j := 1;
      WHILE v_j <= v_len AND v_log[v_j] <= v_now - p_b[v_i] LOOP
        v_j := v_j + 2;
      END LOOP;
      v_log := CASE WHEN v_j > v_len THEN '{}'::double precision[] ELSE v_log[v_j:v_len] END;
      v_len := coalesce(array_length(v_log, 1), 0);
      IF p_cost[v_i] < 0 THEN
        -- a charge: count -cost at the newest entry when it is at or after now (added to it), else at now
        IF v_len > 0 AND v_log[v_len - 1] >= v_now THEN
          v_log[v_len] := v_log[v_len] - p_cost[v_i];
        ELSE
          v_log := v_log || ARRAY[v_now, -(p_cost[v_i])];
          v_len := v_len + 2;
        END IF;
        UPDATE ${table} AS s SET log = v_log,
               expires_at = greatest(s.expires_at, to_timestamp((v_log[v_len - 1] + p_b[v_i]) / 1000.0))
         WHERE ${row} AND s.lease_id = '';
        CONTINUE;
      END IF;
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
      UPDATE ${table} AS s SET log = CASE WHEN v_len > 0 THEN v_log[1:v_len] ELSE '{}' END
       WHERE ${row} AND s.lease_id = '';`;
}
