/**
 * @module
 * Builds the store a config names. Stores with a driver package are constructed synchronously and load it
 * (`ioredis`, `postgres`, `better-sqlite3`) on first use, so a missing optional package surfaces as a clear
 * `StoreUnavailableError` only for the stores that need it.
 */

import type { StoreConfig } from "../config/types.ts";
import { MemoryStore } from "./memory/memory-store.ts";
import { PostgresStore } from "./postgres/postgres-store.ts";
import { RedisStore } from "./redis/redis-store.ts";
import { SqliteStore } from "./sqlite/sqlite-store.ts";
import type { Store } from "./store.ts";

/** A new store for `config`. */
export function createStore(config: StoreConfig): Store {
  switch (config.engine) {
    case "memory":
      return new MemoryStore({ id: config.id, maxKeys: config.maxKeys });
    case "redis":
      return new RedisStore(config);
    case "postgres":
      return new PostgresStore(config);
    case "sqlite":
      return new SqliteStore(config);
  }
}
