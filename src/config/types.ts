/**
 * @module
 * The validated, normalized form of a config: what the rest of rate-sync reads. Produced only by the loader
 * (`load.ts`), deeply frozen, and swapped whole on reload.
 */

import type { BlockSpec } from "../algorithms/block/decide.ts";
import type { AlgorithmName } from "../algorithms/registry.ts";
import type { ConcurrencyParams, RateParams } from "../algorithms/types.ts";
import type { CompiledLists } from "../lists/key-lists.ts";
import type { StoreEngine } from "../stores/store.ts";

/** What a limiter does when its store fails. */
export type OnStoreError = "allow" | "deny" | "local";

/**
 * A limiter as written in TOML or given in code (`[limiters.<id>]`): the user-facing shape that
 * `DynamicConfig` holds and `update(patch)` patches. Validated and normalized into {@link LimiterConfig}.
 */
export interface LimiterDefinition {
  readonly store?: string;
  /** One of the registered algorithms or aliases (`token_bucket`, `gcra`, `fixed_window`, …). */
  readonly algorithm?: AlgorithmName;
  /** `"100/s"`, `"10/min"`, `"3/5min"`, `"1000/day"`. */
  readonly rate?: string;
  /** rate-sync (Python) form of `rate`. */
  readonly rate_per_second?: number | string;
  readonly burst?: number | string;
  readonly limit?: number | string;
  /** Duration: `"250ms"`, `"30s"`, `"5m"` or seconds as a number. */
  readonly window?: string | number;
  /** rate-sync (Python) form of `window`. */
  readonly window_seconds?: number | string;
  /** adaptive: the largest burst cap as a multiple of `limit` (default 3). */
  readonly burst_multiplier?: number | string;
  /** adaptive: the span the load is measured over (default `"5m"`). */
  readonly adaptive_window?: string | number;
  /** adaptive: the load (a fraction of the base rate) from which the cap is lowest (default 0.8). */
  readonly high_load_threshold?: number | string;
  /** adaptive: the load up to which the cap is largest (default 0.4). */
  readonly low_load_threshold?: number | string;
  /** adaptive: the share of the largest cap taken away at high load, 0 to 1 (default 0.5). */
  readonly penalty?: number | string;
  /**
   * Several rate limits decided together, all or nothing, instead of the rate keys above: each item has the
   * rate keys of one limit and an optional `name` (its policy is `<limiter id>/<name>`, default its place from 1).
   */
  readonly limits?: readonly LimitDefinition[];
  readonly max_concurrent?: number | string;
  readonly lease?: string | number;
  /** Duration or seconds; `0` decides at once. */
  readonly timeout?: string | number;
  readonly on_store_error?: OnStoreError;
  /** rate-sync (Python): `true` means `on_store_error = "deny"`. */
  readonly fail_closed?: boolean | string;
  readonly shadow?: boolean | string;
  readonly hash_keys?: boolean | string;
  /** Duration: once a key is denied by the rate limit(s), it stays denied this long. */
  readonly block?: string | number;
  /**
   * Durations of the 1st, 2nd, … block in a row (the last repeats), instead of `block`; or `{ factor, max }`:
   * from `block`, each block `factor` times the previous, up to `max`.
   */
  readonly block_escalation?:
    | readonly (string | number)[]
    | { readonly factor: number | string; readonly max: string | number };
  /** With `block_escalation`: how long after a block ends the next one still escalates (default `"1d"`). */
  readonly block_memory?: string | number;
}

/** One item of {@link LimiterDefinition.limits}: the rate keys of one limit, and its name. */
export type LimitDefinition = Pick<
  LimiterDefinition,
  | "algorithm"
  | "rate"
  | "rate_per_second"
  | "burst"
  | "limit"
  | "window"
  | "window_seconds"
  | "burst_multiplier"
  | "adaptive_window"
  | "high_load_threshold"
  | "low_load_threshold"
  | "penalty"
> & { readonly name?: string };

/** Settings every limiter inherits unless it says otherwise (`[defaults]`). */
export interface DefaultsConfig {
  /** Store id; absent when the file does not name one (then the only store is used). */
  readonly store?: string;
  /** Default `acquire()` timeout in ms; `null` waits until allowed. */
  readonly timeoutMs: number | null;
  readonly onStoreError: OnStoreError;
  /** Bound of the clone handle cache. @default 100000 */
  readonly maxClones: number;
}

interface StoreConfigBase {
  readonly id: string;
  readonly engine: StoreEngine;
}

/** `engine = "memory"`. */
export interface MemoryStoreConfig extends StoreConfigBase {
  readonly engine: "memory";
  /** @default 1_000_000 */
  readonly maxKeys: number;
}

/** TLS settings of a Redis store (`tls = { … }`); file paths are read when the store connects. */
export interface RedisTlsConfig {
  /** PEM file of the certificate authorities to trust; the system's when absent. */
  readonly caFile?: string;
  /** PEM client certificate (mutual TLS). */
  readonly certFile?: string;
  /** PEM private key of `certFile`. */
  readonly keyFile?: string;
  /** Server name for SNI and the certificate check; the host when absent. */
  readonly servername?: string;
  /** Refuse a server whose certificate does not verify. @default true */
  readonly rejectUnauthorized: boolean;
}

/** Redis Sentinel settings of a Redis store (`sentinels`, `name`, `sentinel_password`). */
export interface RedisSentinelConfig {
  readonly sentinels: readonly { readonly host: string; readonly port: number }[];
  /** The master group's name, as in `sentinel.conf`. */
  readonly name: string;
  /** The Sentinels' own password (the master's is `password` or the URL's). */
  readonly password?: string;
}

/** `engine = "redis"`. */
export interface RedisStoreConfig extends StoreConfigBase {
  readonly engine: "redis";
  /**
   * One URL, or several node URLs for a cluster. Absent when the store connects through Sentinels or uses a
   * client given in code.
   */
  readonly url?: string | readonly string[];
  /** The name of an ioredis client given in code (`RateSyncOptions.clients`) that the store runs on. */
  readonly client?: string;
  /** Connect to the master the Sentinels name. */
  readonly sentinel?: RedisSentinelConfig;
  /** TLS settings; a `rediss://` URL turns TLS on with the defaults too. */
  readonly tls?: RedisTlsConfig;
  readonly keyPrefix: string;
  readonly cluster: boolean;
  readonly db?: number;
  readonly password?: string;
  readonly poolMaxSize: number;
  readonly poolMinSize?: number;
  /** Budget of one store call. @default 1000 */
  readonly timeoutMs: number;
  readonly socketTimeoutMs?: number;
  readonly socketConnectTimeoutMs?: number;
}

/** `engine = "postgres"`. */
export interface PostgresStoreConfig extends StoreConfigBase {
  readonly engine: "postgres";
  /** Absent when the store uses a client given in code. */
  readonly url?: string;
  /** The name of a postgres.js `sql` instance given in code (`RateSyncOptions.clients`) that the store runs on. */
  readonly client?: string;
  readonly tableName: string;
  readonly schemaName: string;
  readonly autoCreate: boolean;
  /** Create the table UNLOGGED (faster, not crash-safe). @default false */
  readonly unlogged: boolean;
  readonly poolMaxSize: number;
  readonly poolMinSize?: number;
  readonly timeoutMs: number;
  readonly socketTimeoutMs?: number;
  readonly socketConnectTimeoutMs?: number;
}

/** `engine = "sqlite"`. */
export interface SqliteStoreConfig extends StoreConfigBase {
  readonly engine: "sqlite";
  /** The database file (created if missing); a relative path is relative to the working directory. */
  readonly path: string;
  /** Table of the state. @default "rate_sync_state" */
  readonly tableName: string;
  /** How long a decision waits for the file's write lock before it fails (SQLite's `busy_timeout`). @default 1000 */
  readonly busyTimeoutMs: number;
}

/** A validated store. */
export type StoreConfig = MemoryStoreConfig | RedisStoreConfig | PostgresStoreConfig | SqliteStoreConfig;

/** The draft-10 policy descriptor of a limiter (`RateLimit-Policy`). */
export interface PolicyDescriptor {
  /** The limiter or template id. */
  readonly name: string;
  /** `burst`, `limit` or `max_concurrent`. */
  readonly quota: number;
  /** Window in whole seconds; absent for concurrency limits. */
  readonly windowSeconds?: number;
}

/** A validated limiter with every default applied. */
export interface LimiterConfig {
  /** The limiter or template id (`api`, `api:<tenant>`). */
  readonly id: string;
  /** True when the id has `<name>` placeholders. */
  readonly isTemplate: boolean;
  readonly store: string;
  /** The rate part; absent for a concurrency-only limiter. */
  readonly rate?: RateParams;
  /** The concurrency part; absent when `max_concurrent` is not set. */
  readonly concurrency?: ConcurrencyParams;
  /** Default `acquire()` timeout in ms; `null` waits until allowed; `0` decides at once. */
  readonly timeoutMs: number | null;
  readonly onStoreError: OnStoreError;
  readonly shadow: boolean;
  readonly hashKeys: boolean;
  /** Policy descriptor (of the rate part when there is one, else of the concurrency part). */
  readonly policy: PolicyDescriptor;
  /**
   * With `limits = [...]`: every rate limit, decided together (all or nothing) in the order written; `rate` and
   * `policy` above are the first's. Absent for a limiter with one rate part (or none).
   */
  readonly limits?: readonly LimitPart[];
  /**
   * The block after a rate denial (`block`, `block_escalation`, `block_memory`), as the first rate op carries it
   * (`span` = the number of rate limits). Absent when the limiter does not block.
   */
  readonly block?: BlockSpec;
}

/** One limit of a multi-limit limiter. */
export interface LimitPart {
  /** Its parameters; `part` says which limit it is, so each keeps a state of its own. */
  readonly rate: RateParams;
  /** Its policy, named `<limiter id>/<name>`. */
  readonly policy: PolicyDescriptor;
}

/** `[overrides]`: where the runtime overrides of this config live and how they are bounded. */
export interface OverridesConfig {
  /** The store that holds them (one of the config's stores). */
  readonly store: string;
  /** How many overrides may exist at once. @default 1000 */
  readonly maxOverrides: number;
  /** How many past changes the store keeps. @default 100 */
  readonly history: number;
  /** How often each process checks the store's version (catch-up after a missed message), in ms. @default 5000 */
  readonly checkIntervalMs: number;
}

/** A whole validated config. Immutable. */
export interface ConfigSnapshot {
  /** The file it came from (absolute), or undefined for config given in code. */
  readonly file?: string;
  readonly defaults: DefaultsConfig;
  /** Stores by id, in file order. An implicit `memory` store exists when the file declares none. */
  readonly stores: ReadonlyMap<string, StoreConfig>;
  /** Limiters and templates by id, in file order. */
  readonly limiters: ReadonlyMap<string, LimiterConfig>;
  /** The user-facing definitions the limiters were built from (what `DynamicConfig.get()` returns). */
  readonly definitions: ReadonlyMap<string, LimiterDefinition>;
  /**
   * `allow_no_limiters = true` was written: a reload may apply this snapshot although it has no limiter
   * (without it, such a reload is refused while limiters from the file run). Absent otherwise.
   */
  readonly allowNoLimiters?: true;
  /** `[overrides]`, when the file has it (without it, overrides are kept in process only). */
  readonly overrides?: OverridesConfig;
  /**
   * `[lists]`, compiled: keys and client addresses decided without a store. Absent when the config has no
   * list entries (then a call costs nothing for lists).
   */
  readonly lists?: CompiledLists;
}
