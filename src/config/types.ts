/**
 * @module
 * The validated, normalized form of a config: what the rest of rate-sync reads. Produced only by the loader
 * (`load.ts`), deeply frozen, and swapped whole on reload.
 */

import type { AlgorithmName } from "../algorithms/registry.ts";
import type { ConcurrencyParams, RateParams } from "../algorithms/types.ts";
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
  readonly max_concurrent?: number | string;
  readonly lease?: string | number;
  /** Duration or seconds; `0` decides at once. */
  readonly timeout?: string | number;
  readonly on_store_error?: OnStoreError;
  /** rate-sync (Python): `true` means `on_store_error = "deny"`. */
  readonly fail_closed?: boolean | string;
  readonly shadow?: boolean | string;
  readonly hash_keys?: boolean | string;
}

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

/** `engine = "redis"`. */
export interface RedisStoreConfig extends StoreConfigBase {
  readonly engine: "redis";
  /** One URL, or several node URLs for a cluster. */
  readonly url: string | readonly string[];
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
  readonly url: string;
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
}
