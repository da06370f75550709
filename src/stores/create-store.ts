/**
 * @module
 * Builds the store a config names. Remote stores are constructed synchronously and load their driver
 * (`ioredis`, `postgres`) on first use, so a missing optional package surfaces as a clear
 * `StoreUnavailableError` only for the stores that need it.
 */

import type { StoreConfig } from "../config/types.ts";
import { MemoryStore } from "./memory/memory-store.ts";
import { PostgresStore } from "./postgres/postgres-store.ts";
import { RedisStore } from "./redis/redis-store.ts";
import type { Store } from "./store.ts";

/** A new store for `config`; `now` is the clock of a memory store (remote stores use their own). */
export function createStore(config: StoreConfig, now?: () => number): Store {
  switch (config.engine) {
    case "memory":
      return new MemoryStore({ id: config.id, maxKeys: config.maxKeys, ...(now ? { now } : {}) });
    case "redis":
      return new RedisStore(config);
    case "postgres":
      return new PostgresStore(config);
  }
}
