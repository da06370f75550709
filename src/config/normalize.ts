/**
 * @module
 * Turns validated tables into the normalized config the rest of rate-sync reads (`types.ts`): every default
 * applied, durations in milliseconds, rate-sync (Python) keys mapped to their meaning, policy descriptors
 * computed. Pure: validation (`validate.ts`) has already rejected everything these functions assume away.
 */

import { ADAPTIVE_DEFAULTS } from "../algorithms/adaptive/index.ts";
import type { BlockSpec } from "../algorithms/block/decide.ts";
import { ALGORITHMS, DEFAULT_ALGORITHM, resolveAlgorithm } from "../algorithms/registry.ts";
import { capacityOf } from "../algorithms/shared.ts";
import type { RateParams } from "../algorithms/types.ts";
import { isTemplateId } from "../limiters/templates.ts";
import { growingSteps } from "./block-steps.ts";
import { MAX_BLOCK_STEPS } from "./bounds.ts";
import type {
  BlockGrowth,
  ParsedDefaults,
  ParsedLimit,
  ParsedLimiter,
  ParsedOverrides,
  ParsedRatePart,
  ParsedStore,
  ParsedTls,
} from "./schema.ts";
import type {
  DefaultsConfig,
  LimiterConfig,
  LimitPart,
  OnStoreError,
  OverridesConfig,
  PolicyDescriptor,
  RedisTlsConfig,
  StoreConfig,
} from "./types.ts";
import { rateIntervalMs } from "./units.ts";

/** Default `max_clones`. */
export const DEFAULT_MAX_CLONES = 100_000;
/** Default `lease` of concurrency slots, in ms. */
export const DEFAULT_LEASE_MS = 60_000;
/** Default `max_keys` of memory stores. */
export const DEFAULT_MAX_KEYS = 1_000_000;
/** Default store call budget, in ms. */
export const DEFAULT_STORE_TIMEOUT_MS = 1000;
/** Default `busy_timeout` of SQLite stores, in ms. */
export const DEFAULT_BUSY_TIMEOUT_MS = 1000;
/** Default pool size of remote stores. */
export const DEFAULT_POOL_MAX_SIZE = 10;
/** The store a file without stores gets (SPEC §2.3). */
export const IMPLICIT_STORE: StoreConfig = Object.freeze({
  id: "memory",
  engine: "memory",
  maxKeys: DEFAULT_MAX_KEYS,
});

/** `[defaults]` with its defaults. */
export function normalizeDefaults(parsed: ParsedDefaults): DefaultsConfig {
  return {
    ...(parsed.store === undefined ? {} : { store: parsed.store }),
    timeoutMs: parsed.timeout ?? null,
    onStoreError: parsed.on_store_error ?? "allow",
    maxClones: parsed.max_clones ?? DEFAULT_MAX_CLONES,
  };
}

/** Default of `[overrides] max_overrides`. */
export const DEFAULT_MAX_OVERRIDES = 1000;
/** Default of `[overrides] history`. */
export const DEFAULT_OVERRIDE_HISTORY = 100;
/** Default of `[overrides] check_interval`, in ms. */
export const DEFAULT_OVERRIDE_CHECK_MS = 5000;

/** `[overrides]` with its defaults. */
export function normalizeOverrides(parsed: ParsedOverrides): OverridesConfig {
  return {
    store: parsed.store,
    maxOverrides: parsed.max_overrides ?? DEFAULT_MAX_OVERRIDES,
    history: parsed.history ?? DEFAULT_OVERRIDE_HISTORY,
    checkIntervalMs: parsed.check_interval ?? DEFAULT_OVERRIDE_CHECK_MS,
  };
}

const secondsToMs = (value: number | undefined): number | undefined =>
  value === undefined ? undefined : value * 1000;

/** A validated store table with the defaults of SPEC §2.3; Python's `socket_*timeout` are seconds. */
export function normalizeStore(id: string, parsed: ParsedStore): StoreConfig {
  if (parsed.engine === "memory") {
    return { id, engine: "memory", maxKeys: parsed.max_keys ?? DEFAULT_MAX_KEYS };
  }
  if (parsed.engine === "sqlite") {
    return {
      id,
      engine: "sqlite",
      path: parsed.path,
      tableName: parsed.table_name ?? "rate_sync_state",
      busyTimeoutMs: parsed.busy_timeout ?? DEFAULT_BUSY_TIMEOUT_MS,
    };
  }
  const socketTimeout = secondsToMs(parsed.socket_timeout);
  const connectTimeout = secondsToMs(parsed.socket_connect_timeout);
  const common = {
    id,
    poolMaxSize: parsed.pool_max_size ?? DEFAULT_POOL_MAX_SIZE,
    ...(parsed.pool_min_size === undefined ? {} : { poolMinSize: parsed.pool_min_size }),
    timeoutMs: parsed.timeout ?? DEFAULT_STORE_TIMEOUT_MS,
    ...(socketTimeout === undefined ? {} : { socketTimeoutMs: socketTimeout }),
    ...(connectTimeout === undefined ? {} : { socketConnectTimeoutMs: connectTimeout }),
  };
  if (parsed.engine === "redis") {
    return {
      ...common,
      engine: "redis",
      ...(parsed.url === undefined ? {} : { url: parsed.url }),
      ...(parsed.client === undefined ? {} : { client: parsed.client }),
      ...(parsed.sentinels === undefined || parsed.name === undefined
        ? {}
        : {
            sentinel: {
              sentinels: parsed.sentinels,
              name: parsed.name,
              ...(parsed.sentinel_password === undefined ? {} : { password: parsed.sentinel_password }),
            },
          }),
      ...(parsed.tls === undefined || parsed.tls === false ? {} : { tls: normalizeTls(parsed.tls) }),
      keyPrefix: parsed.key_prefix ?? "rate_sync",
      cluster: parsed.cluster ?? false,
      ...(parsed.db === undefined ? {} : { db: parsed.db }),
      ...(parsed.password === undefined ? {} : { password: parsed.password }),
    };
  }
  return {
    ...common,
    engine: "postgres",
    ...(parsed.url === undefined ? {} : { url: parsed.url }),
    ...(parsed.client === undefined ? {} : { client: parsed.client }),
    tableName: parsed.table_name ?? "rate_sync_state",
    schemaName: parsed.schema_name ?? "public",
    autoCreate: parsed.auto_create ?? true,
    unlogged: parsed.unlogged ?? false,
  };
}

/** `tls = true` or `tls = { … }` as the store reads it. */
function normalizeTls(tls: true | ParsedTls): RedisTlsConfig {
  if (tls === true) return { rejectUnauthorized: true };
  return {
    ...(tls.ca === undefined ? {} : { caFile: tls.ca }),
    ...(tls.cert === undefined ? {} : { certFile: tls.cert }),
    ...(tls.key === undefined ? {} : { keyFile: tls.key }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    rejectUnauthorized: tls.reject_unauthorized ?? true,
  };
}

/** What a limiter is normalized against. */
export interface LimiterContext {
  readonly defaults: DefaultsConfig;
  /** Store ids in declaration order; used when neither the limiter nor the defaults name one. */
  readonly storeIds: readonly string[];
}

/**
 * `on_store_error`: the limiter's own, else its `fail_closed` (rate-sync: `true` fails closed; `false` fails
 * open, so it never inherits a `deny` default), else the defaults.
 */
function resolveOnStoreError(parsed: ParsedLimiter, defaults: DefaultsConfig): OnStoreError {
  if (parsed.on_store_error !== undefined) return parsed.on_store_error;
  if (parsed.fail_closed === true) return "deny";
  if (parsed.fail_closed === false && defaults.onStoreError === "deny") return "allow";
  return defaults.onStoreError;
}

/** A bucket's parameters as the stores get them. */
export interface BucketShape {
  readonly intervalMs: number;
  readonly burst: number;
}

/**
 * The interval and burst of a token or leaky bucket limiter (`undefined` without a rate): what
 * {@link normalizeLimiter} builds and what validation checks the refill-time bound against.
 */
export function bucketShape(parsed: ParsedRatePart): BucketShape | undefined {
  let intervalMs: number;
  let periodCount: number;
  if (parsed.rate !== undefined) {
    intervalMs = rateIntervalMs(parsed.rate);
    periodCount = parsed.rate.count;
  } else if (parsed.rate_per_second !== undefined) {
    intervalMs = 1000 / parsed.rate_per_second;
    periodCount = parsed.rate_per_second;
  } else {
    return undefined; // concurrency-only limiter
  }
  // Default burst: the count of the rate's period ("100/min" → 100), whole and never below 1.
  const burst = parsed.burst ?? Math.max(1, Math.ceil(periodCount));
  return { intervalMs, burst };
}

/**
 * The params and policy of a rate part. `part`: its place in `limits` (0 for the first, or for a limiter's only
 * rate part, which then has no `part` field: its state is the one a single rate part keeps).
 */
function rateParams(
  parsed: ParsedRatePart,
  part = 0,
): { params: RateParams; policy: Omit<PolicyDescriptor, "name"> } | undefined {
  const algorithm = resolveAlgorithm(parsed.algorithm ?? DEFAULT_ALGORITHM);
  const index = part === 0 ? {} : { part };
  if (ALGORITHMS[algorithm].family === "bucket") {
    const shape = bucketShape(parsed);
    if (shape === undefined) return undefined;
    const { intervalMs, burst } = shape;
    return {
      // The family says which params shape the algorithm takes; the registry keeps the two in step.
      params: Object.freeze({ kind: algorithm, intervalMs, burst, ...index } as RateParams),
      // The policy window: how long the whole bucket takes to refill.
      policy: { quota: burst, windowSeconds: Math.ceil((burst * intervalMs) / 1000) },
    };
  }
  const windowMs =
    parsed.window ?? (parsed.window_seconds === undefined ? undefined : parsed.window_seconds * 1000);
  if (parsed.limit === undefined || windowMs === undefined) return undefined;
  if (ALGORITHMS[algorithm].family === "adaptive") {
    const params = Object.freeze({
      kind: "adaptive",
      limit: parsed.limit,
      windowMs,
      burstMultiplier: parsed.burst_multiplier ?? ADAPTIVE_DEFAULTS.burstMultiplier,
      adaptiveWindowMs: parsed.adaptive_window ?? ADAPTIVE_DEFAULTS.adaptiveWindowMs,
      highLoad: parsed.high_load_threshold ?? ADAPTIVE_DEFAULTS.highLoad,
      lowLoad: parsed.low_load_threshold ?? ADAPTIVE_DEFAULTS.lowLoad,
      penalty: parsed.penalty ?? ADAPTIVE_DEFAULTS.penalty,
      ...index,
    } as const);
    // The policy quota is the largest cap (what a quiet client may use in one window), so `remaining` never
    // reads above it.
    return { params, policy: { quota: capacityOf(params), windowSeconds: Math.ceil(windowMs / 1000) } };
  }
  return {
    params: Object.freeze({ kind: algorithm, limit: parsed.limit, windowMs, ...index } as RateParams),
    policy: { quota: parsed.limit, windowSeconds: Math.ceil(windowMs / 1000) },
  };
}

/**
 * The lease of a concurrency limiter that does not set one: 60 s, or its `timeout` when that is longer. A
 * config that is willing to wait 5 minutes for a slot (rate-sync (Python)'s `upload` example, `timeout = 300.0`,
 * which has no lease key at all) is guarding work of that order; a 60 s lease would let the slot of a holder
 * that is still working expire after a minute and admit one more than `max_concurrent`. A holder that
 * crashes frees its slot after the longer lease instead, the safe side of that trade. An explicit `lease`
 * always wins.
 */
export function defaultLeaseMs(timeoutMs: number | null): number {
  return timeoutMs === null ? DEFAULT_LEASE_MS : Math.max(DEFAULT_LEASE_MS, timeoutMs);
}

/**
 * A validated limiter table with every default applied, frozen as it is built (every object in it): a
 * `deepFreeze` walk of 100k configs afterwards cost a key list per object.
 *
 * @example
 * normalizeLimiter("api", { rate: { count: 100, periodMs: 60_000 } }, context);
 * // → rate: { kind: "token_bucket", intervalMs: 600, burst: 100 }, policy: { name: "api", quota: 100, windowSeconds: 60 }
 */
export function normalizeLimiter(id: string, parsed: ParsedLimiter, context: LimiterContext): LimiterConfig {
  const limits = parsed.limits === undefined ? undefined : limitParts(id, parsed.limits);
  const rate =
    limits === undefined ? rateParams(parsed) : { params: limits[0]!.rate, policy: limits[0]!.policy };
  const timeoutMs = parsed.timeout ?? context.defaults.timeoutMs;
  const concurrency =
    parsed.max_concurrent === undefined
      ? undefined
      : Object.freeze({
          kind: "concurrency" as const,
          maxConcurrent: parsed.max_concurrent,
          leaseMs: parsed.lease ?? defaultLeaseMs(timeoutMs),
        });
  // Validation guarantees a rate part or a concurrency part; the fallback only keeps the type honest.
  // With several limits, the limiter's policy is its first limit's (named `<id>/<name>`).
  const policy: PolicyDescriptor =
    limits?.[0]?.policy ??
    Object.freeze({
      name: id,
      ...(rate?.policy ?? { quota: concurrency?.maxConcurrent ?? 1 }),
    });
  const store = parsed.store ?? context.defaults.store ?? context.storeIds[0] ?? "memory";
  return Object.freeze({
    id,
    isTemplate: isTemplateId(id),
    store,
    ...(rate === undefined ? {} : { rate: rate.params }),
    ...(concurrency === undefined ? {} : { concurrency }),
    timeoutMs,
    onStoreError: resolveOnStoreError(parsed, context.defaults),
    shadow: parsed.shadow ?? false,
    hashKeys: parsed.hash_keys ?? false,
    policy,
    ...(limits === undefined ? {} : { limits }),
    ...blockOf(parsed, limits?.length ?? 1),
  });
}

/** Default `block_memory`: a block that starts within a day of the previous one's end escalates. */
export const DEFAULT_BLOCK_MEMORY_MS = 86_400_000;

/**
 * The block of a limiter (`{}` when it has none): a fixed `block` is a list of one step that nothing remembers;
 * `block_escalation` remembers each block for `block_memory` (default {@link DEFAULT_BLOCK_MEMORY_MS}) after it
 * ends. `span`: how many rate ops the block covers.
 */
function blockOf(parsed: ParsedLimiter, span: number): { block?: BlockSpec } {
  const escalation = parsed.block_escalation;
  if (escalation !== undefined) {
    // Validation guarantees `block` with the `{ factor, max }` form, and a short enough row of steps.
    const steps = Array.isArray(escalation)
      ? [...escalation]
      : growingSteps(parsed.block ?? 1, escalation as BlockGrowth, MAX_BLOCK_STEPS);
    return {
      block: Object.freeze({
        durationsMs: Object.freeze(steps),
        memoryMs: parsed.block_memory ?? DEFAULT_BLOCK_MEMORY_MS,
        span,
      }),
    };
  }
  if (parsed.block !== undefined) {
    return { block: Object.freeze({ durationsMs: Object.freeze([parsed.block]), memoryMs: 0, span }) };
  }
  return {};
}

/**
 * The limits of `limits = [...]`, each with its policy named `<limiter id>/<name>` (its `name`, else its place
 * from 1). Validation guarantees every item is a whole rate part.
 */
function limitParts(id: string, items: readonly ParsedLimit[]): readonly LimitPart[] {
  return Object.freeze(
    items.map((item, i) => {
      const made = rateParams(item, i)!;
      const policy = Object.freeze({ name: `${id}/${item.name ?? String(i + 1)}`, ...made.policy });
      return Object.freeze({ rate: made.params, policy });
    }),
  );
}
