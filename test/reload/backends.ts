/**
 * @module
 * The stores the reload tests run on: the memory store, and Redis when it is reachable (a unique key prefix per
 * test file, every key removed afterwards).
 */

import { Redis } from "ioredis";
import { requireRedis, uniqueName } from "../helpers/stores.ts";

/** One store to run the reload tests on. */
export interface Backend {
  readonly name: "memory" | "redis";
  /** The `[stores.main]` table, as TOML, for a given key prefix suffix (so tests never share state). */
  storeToml(namespace: string): string;
  /** Removes whatever the tests left in the store. */
  cleanup(): Promise<void>;
}

const memory: Backend = {
  name: "memory",
  storeToml: () => '[stores.main]\nengine = "memory"\n',
  cleanup: async () => {},
};

/**
 * The backends of a test file: memory always; Redis when reachable (under CI an unreachable Redis fails the
 * file, elsewhere it is skipped with a loud warning by `requireRedis`).
 */
export async function reloadBackends(file: string): Promise<Backend[]> {
  const redis = await requireRedis();
  if (!redis.available) return [memory];
  const prefix = uniqueName(`reload_${file}`);
  const redisBackend: Backend = {
    name: "redis",
    storeToml: (namespace) =>
      `[stores.main]\nengine = "redis"\nurl = "${redis.url}"\nkey_prefix = "${prefix}_${namespace}"\n`,
    async cleanup() {
      const raw = new Redis(redis.url);
      try {
        // Prefixes are `<prefix>_<namespace>`: one SCAN over all of them (never KEYS).
        let cursor = "0";
        do {
          const [next, found] = await raw.scan(cursor, "MATCH", `${prefix}_*`, "COUNT", 1000);
          cursor = next;
          if (found.length > 0) await raw.del(...found);
        } while (cursor !== "0");
      } finally {
        raw.disconnect();
      }
    },
  };
  return [memory, redisBackend];
}
