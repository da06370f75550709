/**
 * @module
 * rate-sync: declarative, config-driven rate limiting for Node.js. Limits live in a TOML file, are decided
 * by name (`await acquire("api:42")`), shared exactly across processes through Redis or PostgreSQL, and
 * change at runtime without a restart.
 */

export type { BlockReport, BlockSpec } from "./algorithms/block/decide.ts";
export type {
  Algorithm,
  ConcurrencyParams,
  LeakyBucketParams,
  LimitParams,
  RateParams,
  TokenBucketParams,
  WindowParams,
} from "./algorithms/types.ts";
export { findConfigFile, parseConfigObject, parseConfigText } from "./config/load.ts";
export { loadConfig } from "./config/load-file.ts";
export type {
  ConfigSnapshot,
  DefaultsConfig,
  LimitDefinition,
  LimiterConfig,
  LimiterDefinition,
  LimitPart,
  MemoryStoreConfig,
  OnStoreError,
  OverridesConfig,
  PolicyDescriptor,
  PostgresStoreConfig,
  RedisStoreConfig,
  SqliteStoreConfig,
  StoreConfig,
} from "./config/types.ts";
export { parseDuration, parseRate } from "./config/units.ts";
export {
  acquire,
  close,
  configure,
  type DefaultInstanceOptions,
  getRateSync,
  peek,
  reset,
  run,
  tryAcquire,
} from "./core/default-instance.ts";
export type { LimiterCounters, MetricsSnapshot, WaitStats } from "./core/metrics.ts";
export type { NoticeLogger, NoticeOptions } from "./core/notices.ts";
export {
  type ArgumentsFor,
  type MethodKeyFunction,
  type RateLimitedDecorator,
  type RateLimitedOptions,
  rateLimited,
  type TemplatePlaceholders,
} from "./core/rate-limited.ts";
export { type ConfigureOptions, type KeyInput, type LimiterHandle, RateSync } from "./core/rate-sync.ts";
export type { RunOptions } from "./core/refund.ts";
export type {
  AcquireOptions,
  BlockedEvent,
  Clock,
  ConfigProvider,
  Decision,
  Degraded,
  DurationInput,
  FromFileOptions,
  Lease,
  LeaseReleasedEvent,
  LimiterState,
  LimitReport,
  RateSyncEventName,
  RateSyncEvents,
  RateSyncOptions,
  ReloadEvent,
  ReloadWarningEvent,
  StoreErrorEvent,
  TryAcquireOptions,
  UnknownLimiterEvent,
  WaitEvent,
  WaitResult,
} from "./core/types.ts";
export * from "./errors.ts";
export type { DenyStatus, ListVerdict } from "./lists/key-lists.ts";
export type { Overrides } from "./overrides/overrides.ts";
export type {
  ExplainedKey,
  OverrideAction,
  OverrideChange,
  OverrideEvent,
  OverridePatch,
  OverrideRecord,
  OverrideSetOptions,
  OverrideStatus,
  OverrideUnsetOptions,
  ValueSource,
} from "./overrides/types.ts";
export { DynamicConfig } from "./reload/dynamic-config.ts";
export type { PostgresClientLike, RedisClientLike, StoreClient } from "./stores/clients.ts";
export { MemoryStore, type MemoryStoreOptions } from "./stores/memory/memory-store.ts";
export { type PostgresDdlOptions, postgresDdl } from "./stores/postgres/ddl.ts";
export {
  SqliteStore,
  type SqliteStoreOptions,
  type SqliteStoreStats,
} from "./stores/sqlite/sqlite-store.ts";
export type { BatchResult, OpResult, Store, StoreEngine, StoreOp } from "./stores/store.ts";
export type { TopKey, TopKeysOptions, TopKeysSnapshot } from "./top-keys/top-keys.ts";
