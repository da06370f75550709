/**
 * @module
 * Connections an application hands over (`RateSyncOptions.clients`) for stores to run on, so the application
 * shares its pool and its TLS, Sentinel or Cluster settings with the rate limiter. The application owns them:
 * a store never closes one, never replaces it after an outage, and never touches its listeners or sockets.
 */

import type { RedisClientLike } from "./redis/client.ts";

export { isRedisClient, type RedisClientLike } from "./redis/client.ts";

/**
 * A `postgres` (postgres.js) `sql` instance: the members a store uses. Any `postgres(url, options)` result
 * fits.
 */
export interface PostgresClientLike {
  // Typed loosely on purpose: postgres.js's own types are generic over the app's type map, and any of its
  // instances must fit here without the app importing anything of ours.
  readonly unsafe: (...args: never[]) => unknown;
  readonly begin: (...args: never[]) => unknown;
}

/** A client for a store: an ioredis `Redis` or `Cluster`, or a postgres.js `sql`. */
export type StoreClient = RedisClientLike | PostgresClientLike;

/** True when `value` looks like a postgres.js `sql` instance. */
export function isPostgresClient(value: unknown): value is PostgresClientLike {
  if (typeof value !== "function") return false;
  const sql = value as unknown as Partial<Record<string, unknown>>;
  return typeof sql.unsafe === "function" && typeof sql.begin === "function" && typeof sql.end === "function";
}
