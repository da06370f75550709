/**
 * @module
 * The concurrency limit in PL/pgSQL, for `<table>_step`: one row per live lease (`lease_id <> ''`), next to the
 * key's lock row (`lease_id = ''`), which lives as long as the longest lease. Encodes `leases.ts`; the
 * reference-model test compares the two.
 */

/**
 * The body of `<table>_step` for a concurrency member: `a = maxConcurrent`, `b = leaseMs`. Counts the live
 * leases, grants one when there is room (writing it when `p_write` and not `p_peek`), and in peek mode reports
 * the lease set as it stands. Uses the step function's parameters and variables (`v_now`, `v_live`,
 * `v_min_exp`, `v_max_exp`, `v_new_exp`, `v_cur_remaining`, `v_cur_reset`).
 */
export function concurrencyStepSql(table: string): string {
  return `  allowed := false;
  retry_after_ms := 0;
  wait_ms := 0;
  lim := p_a;
  SELECT count(*)::integer, min(s.expires_at), max(s.expires_at) INTO v_live, v_min_exp, v_max_exp
    FROM ${table} AS s
   WHERE s.limiter_id = p_limiter AND s.key = p_key AND s.tag = p_tag AND s.lease_id <> ''
     AND s.expires_at > p_now_ts;
  v_cur_remaining := p_a - v_live;
  v_cur_reset := CASE WHEN v_live > 0
    THEN (extract(epoch FROM v_max_exp) * 1000)::double precision - v_now ELSE 0 END;
  IF v_live + 1 <= p_a AND (p_lease <> '' OR p_peek) THEN
    allowed := true;
    v_new_exp := p_now_ts + p_b * interval '1 millisecond';
    remaining := p_a - v_live - 1;
    reset_after_ms := (extract(epoch FROM greatest(v_max_exp, v_new_exp)) * 1000)::double precision - v_now;
    IF p_write AND NOT p_peek THEN
      INSERT INTO ${table} AS s (limiter_id, key, tag, lease_id, expires_at)
      VALUES (p_limiter, p_key, p_tag, p_lease, v_new_exp)
      ON CONFLICT (limiter_id, key, tag, lease_id) DO UPDATE SET expires_at = excluded.expires_at;
      -- The lock row lives as long as the longest lease, so it is not swept and re-created under load.
      UPDATE ${table} AS s SET expires_at = greatest(s.expires_at, v_new_exp)
       WHERE s.limiter_id = p_limiter AND s.key = p_key AND s.tag = p_tag AND s.lease_id = '';
    END IF;
  ELSE
    retry_after_ms := CASE WHEN v_live > 0
      THEN (extract(epoch FROM v_min_exp) * 1000)::double precision - v_now ELSE 0 END;
    remaining := 0;
    reset_after_ms := v_cur_reset;
  END IF;
  IF p_peek THEN
    remaining := v_cur_remaining;
    reset_after_ms := v_cur_reset;
  END IF;
`;
}
