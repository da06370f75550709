/**
 * @module
 * Shared setup of the Redis store tests: a store config with a per-file key prefix, and key cleanup.
 */

import { Redis } from "ioredis";
import type { RedisStoreConfig } from "../../../src/config/types.ts";
import { RedisStore, type RedisStoreOptions } from "../../../src/stores/redis/index.ts";
import { uniqueName } from "../../helpers/stores.ts";

/** A normalized Redis store config for tests; `keyPrefix` is unique per call. */
export function redisConfig(
  url: string | readonly string[],
  overrides: Partial<RedisStoreConfig> = {},
): RedisStoreConfig {
  return {
    id: "redis-test",
    engine: "redis",
    url,
    keyPrefix: uniqueName("redis"),
    cluster: false,
    poolMaxSize: 10,
    timeoutMs: 1_000,
    ...overrides,
  };
}

/** A store plus a raw client on the same server, for inspecting keys and cleaning up. */
export interface RedisFixture {
  readonly store: RedisStore;
  readonly config: RedisStoreConfig;
  readonly raw: Redis;
  /** Deletes every key under the fixture's prefix. */
  clean(): Promise<void>;
  /** Cleans up and closes both clients. */
  close(): Promise<void>;
}

/** Deletes every key starting with `prefix` (SCAN, never KEYS). */
export async function deleteByPrefix(raw: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await raw.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await raw.del(...keys);
  } while (cursor !== "0");
}

/** Opens a store with a unique prefix and a raw client. */
export function redisFixture(
  url: string,
  overrides: Partial<RedisStoreConfig> = {},
  options: RedisStoreOptions = {},
): RedisFixture {
  const config = redisConfig(url, overrides);
  const store = new RedisStore(config, options);
  const raw = new Redis(url);
  return {
    store,
    config,
    raw,
    clean: () => deleteByPrefix(raw, config.keyPrefix),
    async close() {
      await deleteByPrefix(raw, config.keyPrefix);
      await store.close();
      raw.disconnect();
    },
  };
}
