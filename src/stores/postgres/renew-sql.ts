/**
 * @module
 * `<table>_renew`: extends a live lease. It takes the key's lock row first, like a grant does, so a renewal and a
 * grant on the same key are ordered: a grant either sees the renewed expiry or the renewal sees the lease
 * already expired — never a grant that counts a lease as dead which a renewal then brings back.
 */

import { TABLE_FUNCTION_SETTINGS } from "./functions-sql.ts";
import type { PostgresNames } from "./identifiers.ts";

/** The `CREATE FUNCTION` statement of the renew function. */
export function renewFunctionSql(names: PostgresNames): string {
  const t = names.table;
  return `CREATE OR REPLACE FUNCTION ${names.renewFunction}(
  p_limiter text, p_key text, p_lease text, p_lease_ms double precision)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
${TABLE_FUNCTION_SETTINGS}
AS $fn$
DECLARE
  v_now timestamptz;
  v_expires timestamptz;
BEGIN
  -- No lock row means no live lease: the lock row outlives every lease (grants and renewals extend it).
  PERFORM FROM ${t} AS s
   WHERE s.limiter_id = p_limiter AND s.key = p_key AND s.tag = 'cc' AND s.lease_id = '' FOR UPDATE;
  IF NOT FOUND OR p_lease = '' THEN
    RETURN false;
  END IF;
  v_now := clock_timestamp();
  v_expires := v_now + p_lease_ms * interval '1 millisecond';
  UPDATE ${t} AS s SET expires_at = v_expires
   WHERE s.limiter_id = p_limiter AND s.key = p_key AND s.tag = 'cc' AND s.lease_id = p_lease
     AND s.expires_at > v_now;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  UPDATE ${t} AS s SET expires_at = greatest(s.expires_at, v_expires)
   WHERE s.limiter_id = p_limiter AND s.key = p_key AND s.tag = 'cc' AND s.lease_id = '';
  RETURN true;
END
$fn$`;
}
