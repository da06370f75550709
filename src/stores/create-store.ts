/**
 * @module
 * Builds the store a config names. Stores with a driver package are constructed synchronously and load it
 * (`ioredis`, `postgres`, `better-sqlite3`) on first use, so a missing optional package surfaces as a clear
 * `StoreUnavailableError` only for the stores that need it.
 */

import type { StoreConfig } from "../config/types.ts";
import { StoreError } from "../errors.ts";
import { isPostgresClient, isRedisClient, type StoreClient } from "./clients.ts";
import { MemoryStore } from "./memory/memory-store.ts";
import { PostgresStore } from "./postgres/postgres-store.ts";
import { RedisStore } from "./redis/redis-store.ts";
import { SqliteStore } from "./sqlite/sqlite-store.ts";
import type { Store } from "./store.ts";

/** Connections handed over by the application, by the name a store's `client` key gives. */
export type StoreClients = Readonly<Record<string, StoreClient>>;

/**
 * A new store for `config`. A store whose config names a `client` runs on that client of `clients`; `now` is
 * the clock of a memory store (the other stores use their own).
 * @throws StoreError when the named client was not given, or is not the kind the engine needs.
 */
export function createStore(config: StoreConfig, clients: StoreClients = {}, now?: () => number): Store {
  switch (config.engine) {
    case "memory":
      return new MemoryStore({ id: config.id, maxKeys: config.maxKeys, ...(now ? { now } : {}) });
    case "redis": {
      if (config.client === undefined) return new RedisStore(config);
      return new RedisStore(config, { client: clientFor(config, clients, isRedisClient) });
    }
    case "postgres":
      if (config.client === undefined) return new PostgresStore(config);
      return new PostgresStore(config, { client: clientFor(config, clients, isPostgresClient) });
    case "sqlite":
      return new SqliteStore(config);
  }
}

/** What is wrong with the client a store names, or undefined when it is there and of the right kind. */
export function clientProblem(config: StoreConfig, clients: StoreClients): string | undefined {
  if (config.engine === "memory" || config.engine === "sqlite" || config.client === undefined)
    return undefined;
  const name = config.client;
  const client = Object.hasOwn(clients, name) ? clients[name] : undefined;
  const kind =
    config.engine === "redis"
      ? "an ioredis Redis or Cluster instance"
      : "a postgres (postgres.js) sql instance";
  if (client === undefined) {
    const given = Object.keys(clients);
    return `no client ${JSON.stringify(name)} was given: pass it as new RateSync(config, { clients: { ${JSON.stringify(name)}: … } }), ${kind}${given.length > 0 ? ` (given: ${given.map((n) => JSON.stringify(n)).join(", ")})` : ""}`;
  }
  const fits = config.engine === "redis" ? isRedisClient(client) : isPostgresClient(client);
  return fits ? undefined : `client ${JSON.stringify(name)} is not ${kind}`;
}

function clientFor<T>(config: StoreConfig, clients: StoreClients, fits: (value: unknown) => value is T): T {
  const problem = clientProblem(config, clients);
  const client = clients[(config as { client: string }).client];
  if (problem !== undefined || !fits(client)) throw new StoreError(config.id, problem ?? "unusable client");
  return client;
}
