/**
 * @module
 * Where a remote store connects, as messages show it: its URLs (passwords masked), its Sentinels and master
 * name, or the name of the client given in code that it runs on.
 */

import { maskUrl } from "./mask.ts";
import type { PostgresStoreConfig, RedisSentinelConfig, RedisStoreConfig } from "./types.ts";

/** The URLs of a remote store (none when it connects through Sentinels or runs on a client given in code). */
export function storeUrls(config: RedisStoreConfig | PostgresStoreConfig): readonly string[] {
  const url = config.url;
  if (url === undefined) return [];
  return typeof url === "string" ? [url] : url;
}

/**
 * How a remote store connects, secrets masked: `redis://:****@cache:6379/0`, `sentinels 10.0.0.1:26379
 * (master "mymaster")` or `client "app"`.
 */
export function describeAddress(config: RedisStoreConfig | PostgresStoreConfig): string {
  if (config.client !== undefined) return `client ${JSON.stringify(config.client)}`;
  if (config.engine === "redis" && config.sentinel !== undefined) {
    return `sentinels ${sentinelList(config.sentinel)} (master ${JSON.stringify(config.sentinel.name)})`;
  }
  return storeUrls(config).map(maskUrl).join(",");
}

/** The Sentinels as written: `10.0.0.1:26379,[::1]:26379`. */
export function sentinelList(sentinel: RedisSentinelConfig): string {
  return sentinel.sentinels
    .map(({ host, port }) => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`))
    .join(",");
}
