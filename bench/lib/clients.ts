/**
 * @module
 * Raw clients for the physical limits and for the competitor: an ioredis client and a `postgres` pool opened
 * with the same settings the stores use, so "raw" figures differ from ours only by what the library adds.
 */

import { Redis } from "ioredis";
import { loadDriver, type Sql } from "../../src/stores/postgres/driver.ts";

/** A raw ioredis client with the store's command settings (no retries, no resend, offline queue on). */
export function rawRedis(url: string): Redis {
  const client = new Redis(url, {
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableOfflineQueue: true,
  });
  client.on("error", () => {});
  return client;
}

/** A `postgres` pool like the store's (prepared statements, `max` connections). */
export async function rawPostgres(url: string, max: number, applicationName: string): Promise<Sql> {
  const postgres = await loadDriver("bench");
  return postgres(url, {
    max,
    prepare: true,
    onnotice: () => {},
    connection: { application_name: applicationName },
  });
}

/**
 * A minimal `pg`-style client over a `postgres` pool, for rate-limiter-flexible's RateLimiterPostgres (which
 * calls `client.query({ name, text, values })` and reads `result.rows`). Both libraries then run on the same
 * driver and pool size, so the comparison isolates the limiters themselves.
 */
export class PgStyleClient {
  constructor(readonly sql: Sql) {}

  async query(query: { text: string; values?: readonly unknown[] }): Promise<{ rows: unknown[] }> {
    const rows = await this.sql.unsafe(query.text, (query.values ?? []) as never[], { prepare: true });
    return { rows: [...rows] };
  }
}

/**
 * Fills the pool (`inFlight` queries at once open every connection it will use), then pins the server
 * processes of every connection whose `application_name` is one of `names`.
 */
export async function pinBackends(
  sql: Sql,
  names: readonly string[],
  pinServer: (pid: number) => Promise<void>,
  inFlight: number,
): Promise<void> {
  await Promise.all(Array.from({ length: inFlight }, () => sql.unsafe("SELECT pg_sleep(0.01)")));
  const rows = await sql.unsafe(
    "SELECT pid FROM pg_stat_activity WHERE application_name = ANY($1::text[]) AND datname = current_database()",
    [names as string[]],
  );
  for (const row of rows) await pinServer(Number((row as unknown as { pid: unknown }).pid));
}
