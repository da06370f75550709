/**
 * @module
 * Output helpers of the CLI (SPEC §9): the human listing of `rate-sync check` and the JSON Schema of
 * `rate-sync schema`.
 */

import { MASK, maskUrl } from "./mask.ts";
import { configJsonSchema } from "./schema.ts";
import type { ConfigSnapshot, LimiterConfig, StoreConfig } from "./types.ts";

const UNITS: readonly (readonly [string, number])[] = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1000],
];

/** A duration in the largest unit that divides it exactly: `300000` → `"5m"`, `1500` → `"1500ms"`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  for (const [unit, size] of UNITS) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${Number(ms.toPrecision(6))}ms`;
}

function formatNumber(value: number): string {
  return String(Number(value.toPrecision(6)));
}

function describeStore(store: StoreConfig): string {
  const parts: string[] = [];
  switch (store.engine) {
    case "memory":
      parts.push(`max_keys=${store.maxKeys}`);
      break;
    case "redis": {
      const urls = typeof store.url === "string" ? [store.url] : store.url;
      parts.push(
        `url=${urls.map(maskUrl).join(",")}`,
        `key_prefix=${store.keyPrefix}`,
        `cluster=${store.cluster}`,
      );
      if (store.db !== undefined) parts.push(`db=${store.db}`);
      if (store.password !== undefined) parts.push(`password=${MASK}`);
      break;
    }
    case "postgres":
      parts.push(
        `url=${maskUrl(store.url)}`,
        `table=${JSON.stringify(store.schemaName)}.${JSON.stringify(store.tableName)}`,
        `auto_create=${store.autoCreate}`,
        `unlogged=${store.unlogged}`,
      );
      break;
  }
  if (store.engine !== "memory") {
    parts.push(`pool_max_size=${store.poolMaxSize}`, `timeout=${formatDuration(store.timeoutMs)}`);
    if (store.poolMinSize !== undefined) parts.push(`pool_min_size=${store.poolMinSize}`);
    if (store.socketTimeoutMs !== undefined)
      parts.push(`socket_timeout=${formatDuration(store.socketTimeoutMs)}`);
    if (store.socketConnectTimeoutMs !== undefined) {
      parts.push(`socket_connect_timeout=${formatDuration(store.socketConnectTimeoutMs)}`);
    }
  }
  return `  ${store.id} (${store.engine}): ${parts.join(" ")}`;
}

function describeLimiter(limiter: LimiterConfig): string {
  const parts: string[] = [];
  const rate = limiter.rate;
  if (rate?.kind === "token_bucket" || rate?.kind === "leaky_bucket") {
    parts.push(`${rate.kind} rate=${formatNumber(1000 / rate.intervalMs)}/s burst=${rate.burst}`);
  } else if (rate !== undefined) {
    parts.push(`${rate.kind} limit=${rate.limit} window=${formatDuration(rate.windowMs)}`);
  }
  if (limiter.concurrency !== undefined) {
    parts.push(
      `max_concurrent=${limiter.concurrency.maxConcurrent} lease=${formatDuration(limiter.concurrency.leaseMs)}`,
    );
  }
  parts.push(
    `store=${limiter.store}`,
    `timeout=${limiter.timeoutMs === null ? "none" : formatDuration(limiter.timeoutMs)}`,
    `on_store_error=${limiter.onStoreError}`,
    `shadow=${limiter.shadow}`,
    `hash_keys=${limiter.hashKeys}`,
  );
  return `  ${limiter.id}${limiter.isTemplate ? " (template)" : ""}: ${parts.join(" ")}`;
}

/**
 * The listing `rate-sync check` prints: each store (URL passwords and `password` masked) and each limiter
 * with its effective parameters, one per line.
 *
 * @example
 * console.log(describeConfig(await loadConfig("rate-sync.toml")));
 * // Stores:
 * //   main (redis): url=redis://:****@cache:6379/0 key_prefix=rate_sync cluster=false pool_max_size=10 timeout=1s
 * // Limiters:
 * //   api: token_bucket rate=100/s burst=200 store=main timeout=5s on_store_error=allow shadow=false hash_keys=false
 */
export function describeConfig(snapshot: ConfigSnapshot): string {
  const { defaults } = snapshot;
  const lines = [
    `Config: ${snapshot.file ?? "(given in code)"}`,
    `Defaults: store=${defaults.store ?? "(the only store)"} timeout=${
      defaults.timeoutMs === null ? "none" : formatDuration(defaults.timeoutMs)
    } on_store_error=${defaults.onStoreError} max_clones=${defaults.maxClones}`,
    `Stores (${snapshot.stores.size}):`,
    ...[...snapshot.stores.values()].map(describeStore),
    `Limiters (${snapshot.limiters.size}):`,
    ...[...snapshot.limiters.values()].map(describeLimiter),
  ];
  return lines.join("\n");
}

/**
 * The JSON Schema of `rate-sync.toml` (what `rate-sync schema` prints and `schemas/rate-sync.schema.json`
 * holds), generated from the zod schemas the loader validates with.
 */
export function configSchemaJson(): object {
  return configJsonSchema();
}
