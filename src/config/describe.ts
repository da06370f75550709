/**
 * @module
 * Output helpers of the CLI (SPEC §9): the human listing of `rate-sync check` and the JSON Schema of
 * `rate-sync schema`.
 */

import type { BlockSpec } from "../algorithms/block/decide.ts";
import type { RateParams } from "../algorithms/types.ts";
import { MASK, maskUrl } from "./mask.ts";
import { DEFAULT_LEASE_MS } from "./normalize.ts";
import { configJsonSchema } from "./schema.ts";
import { sentinelList, storeUrls } from "./store-address.ts";
import type {
  ConfigSnapshot,
  DefaultsConfig,
  LimitDefinition,
  LimiterConfig,
  LimiterDefinition,
  PostgresStoreConfig,
  RedisStoreConfig,
  RedisTlsConfig,
  StoreConfig,
} from "./types.ts";

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

/** `url=…`, `sentinels=… name=…` or `client=…`: how the store connects, secrets masked. */
function addressPart(store: RedisStoreConfig | PostgresStoreConfig): string {
  if (store.client !== undefined) return `client=${JSON.stringify(store.client)}`;
  if (store.engine === "redis" && store.sentinel !== undefined) {
    return `sentinels=${sentinelList(store.sentinel)} name=${JSON.stringify(store.sentinel.name)}`;
  }
  return `url=${storeUrls(store).map(maskUrl).join(",")}`;
}

/** `tls=on` with the files it reads (paths are not secrets; the key file's content never shows). */
function describeTls(tls: RedisTlsConfig): string {
  const parts = ["tls=on"];
  if (tls.caFile !== undefined) parts.push(`ca=${tls.caFile}`);
  if (tls.certFile !== undefined) parts.push(`cert=${tls.certFile}`);
  if (tls.keyFile !== undefined) parts.push(`key=${tls.keyFile}`);
  if (tls.servername !== undefined) parts.push(`servername=${tls.servername}`);
  if (!tls.rejectUnauthorized) parts.push("reject_unauthorized=false");
  return parts.join(" ");
}

function describeStore(store: StoreConfig): string {
  const parts: string[] = [];
  switch (store.engine) {
    case "memory":
      parts.push(`max_keys=${store.maxKeys}`);
      break;
    case "redis": {
      parts.push(addressPart(store), `key_prefix=${store.keyPrefix}`, `cluster=${store.cluster}`);
      if (store.db !== undefined) parts.push(`db=${store.db}`);
      if (store.password !== undefined) parts.push(`password=${MASK}`);
      if (store.sentinel?.password !== undefined) parts.push(`sentinel_password=${MASK}`);
      if (store.tls !== undefined) parts.push(describeTls(store.tls));
      break;
    }
    case "postgres":
      parts.push(
        addressPart(store),
        `table=${JSON.stringify(store.schemaName)}.${JSON.stringify(store.tableName)}`,
        `auto_create=${store.autoCreate}`,
        `unlogged=${store.unlogged}`,
      );
      break;
    case "sqlite":
      parts.push(
        `path=${JSON.stringify(store.path)}`,
        `table=${JSON.stringify(store.tableName)}`,
        `busy_timeout=${formatDuration(store.busyTimeoutMs)}`,
      );
      break;
  }
  if (store.engine === "redis" || store.engine === "postgres") {
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

/** How a written value is shown: strings quoted (as in the file), numbers and booleans as they are. */
function writtenText(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/**
 * `key=<as written> (<derived>)`, so a user recognises their own `"2/min"` before the rate it works out to.
 * The derived value is left out when it reads the same as what was written; a key that was not written shows
 * the value in effect and, when given, where it came from.
 */
function setting(key: string, written: unknown, effective: string, origin?: string): string {
  if (written === undefined) return `${key}=${effective}${origin === undefined ? "" : ` (${origin})`}`;
  const text = writtenText(written);
  return text === effective || text === JSON.stringify(effective)
    ? `${key}=${text}`
    : `${key}=${text} (${effective})`;
}

/** A rate in units per second, with the spacing it works out to when that is slower than one a second. */
function formatRate(intervalMs: number): string {
  const perSecond = `${formatNumber(1000 / intervalMs)}/s`;
  if (intervalMs <= 1000) return perSecond;
  const ms = Math.round(intervalMs);
  return `${perSecond}, one every ${ms % 1000 === 0 ? formatDuration(ms) : `${formatNumber(ms / 1000)}s`}`;
}

/** A rate part as `describeLimiter` prints it: its algorithm, then its settings as written and in effect. */
function describeRate(rate: RateParams, definition: LimitDefinition): string[] {
  if ("burst" in rate) {
    const effective = formatRate(rate.intervalMs);
    return [
      rate.kind,
      definition.rate_per_second !== undefined
        ? setting("rate_per_second", definition.rate_per_second, effective)
        : setting("rate", definition.rate, effective),
      setting("burst", definition.burst, String(rate.burst), "default"),
    ];
  }
  const window = formatDuration(rate.windowMs);
  const parts = [
    rate.kind,
    setting("limit", definition.limit, String(rate.limit)),
    definition.window_seconds !== undefined
      ? setting("window_seconds", definition.window_seconds, window)
      : setting("window", definition.window, window),
  ];
  if (rate.kind === "adaptive") {
    parts.push(
      setting("burst_multiplier", definition.burst_multiplier, String(rate.burstMultiplier), "default"),
      setting(
        "adaptive_window",
        definition.adaptive_window,
        formatDuration(rate.adaptiveWindowMs),
        "default",
      ),
      setting("high_load_threshold", definition.high_load_threshold, String(rate.highLoad), "default"),
      setting("low_load_threshold", definition.low_load_threshold, String(rate.lowLoad), "default"),
      setting("penalty", definition.penalty, String(rate.penalty), "default"),
    );
  }
  return parts;
}

/**
 * One limiter as `rate-sync check` and `explain` print it: its algorithm, then every setting as the user wrote
 * it followed by what it works out to (`rate="2/min" (0.0333333/s, one every 30s)`), and for settings left
 * out, the value in effect and where it comes from (`burst=2 (default)`, `timeout=5s (from [defaults])`).
 *
 * @param definition - The limiter's table as written (after `${VAR}` interpolation); `{}` shows only defaults.
 * @param defaults - The config's `[defaults]`, to say which values come from it.
 */
export function describeLimiter(
  limiter: LimiterConfig,
  definition: LimiterDefinition,
  defaults: DefaultsConfig,
): string {
  const parts: string[] = [];
  if (limiter.limits !== undefined) {
    // Each limit in brackets, under the name its policy goes by in the RateLimit headers.
    limiter.limits.forEach((part, i) => {
      parts.push(`[${part.policy.name}: ${describeRate(part.rate, definition.limits?.[i] ?? {}).join(" ")}]`);
    });
  } else if (limiter.rate !== undefined) {
    parts.push(...describeRate(limiter.rate, definition));
  }
  if (limiter.concurrency !== undefined) {
    const { maxConcurrent, leaseMs } = limiter.concurrency;
    const leaseOrigin = leaseMs > DEFAULT_LEASE_MS ? "default: the timeout, at least 1m" : "default";
    parts.push(
      setting("max_concurrent", definition.max_concurrent, String(maxConcurrent)),
      setting("lease", definition.lease, formatDuration(leaseMs), leaseOrigin),
    );
  }
  const fromDefaults = "from [defaults]";
  parts.push(
    setting(
      "store",
      definition.store,
      limiter.store,
      defaults.store === undefined ? undefined : fromDefaults,
    ),
    setting(
      "timeout",
      definition.timeout,
      limiter.timeoutMs === null ? "none" : formatDuration(limiter.timeoutMs),
      defaults.timeoutMs === null ? undefined : fromDefaults,
    ),
    definition.on_store_error === undefined && definition.fail_closed !== undefined
      ? `on_store_error=${limiter.onStoreError} (fail_closed = ${writtenText(definition.fail_closed)})`
      : setting("on_store_error", definition.on_store_error, limiter.onStoreError),
    setting("shadow", definition.shadow, String(limiter.shadow)),
    setting("hash_keys", definition.hash_keys, String(limiter.hashKeys)),
  );
  if (limiter.block !== undefined) parts.push(describeBlock(limiter.block));
  return `${limiter.id}${limiter.isTemplate ? " (template)" : ""}: ${parts.join(" ")}`;
}

/**
 * A limiter's block: `block=15m` (fixed), or `block_escalation=[1m, 10m, 1h] block_memory=1d`, each followed by
 * what it means.
 */
function describeBlock(block: BlockSpec): string {
  const steps = block.durationsMs.map(formatDuration);
  if (steps.length === 1 && block.memoryMs === 0) {
    return `block=${steps[0]} (a denied key stays denied ${steps[0]})`;
  }
  return `block_escalation=[${steps.join(", ")}] block_memory=${formatDuration(block.memoryMs)} (a denied key stays denied ${steps[0]}, each repeat within ${formatDuration(block.memoryMs)} of the last block's end the next step, the last one repeating)`;
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
 * //   api: token_bucket rate="100/s" burst=200 store=main timeout=5s (from [defaults]) on_store_error=allow shadow=false hash_keys=false
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
    ...[...snapshot.limiters.values()].map(
      (limiter) => `  ${describeLimiter(limiter, snapshot.definitions.get(limiter.id) ?? {}, defaults)}`,
    ),
    ...describeLists(snapshot),
  ];
  return lines.join("\n");
}

/** The `[lists]` lines of `rate-sync check`: nothing when the config has no list entries. */
function describeLists(snapshot: ConfigSnapshot): string[] {
  const lists = snapshot.lists;
  if (lists === undefined) return [];
  const { allow, deny, denyStatus } = lists.source;
  const entries = (list: readonly string[]) =>
    list.length === 0 ? "(none)" : list.map((entry) => JSON.stringify(entry)).join(" ");
  return [
    `Lists: deny_status=${denyStatus}`,
    `  allow (${allow.length}): ${entries(allow)}`,
    `  deny (${deny.length}): ${entries(deny)}`,
  ];
}

/**
 * The JSON Schema of `rate-sync.toml` (what `rate-sync schema` prints and `schemas/rate-sync.schema.json`
 * holds), generated from the zod schemas the loader validates with.
 */
export function configSchemaJson(): object {
  return configJsonSchema();
}
