/**
 * @module
 * The Redis store (ioredis, optional peer dependency, loaded on first use).
 */
export {
  RedisStore,
  type RedisStoreOptions,
  type RedisStoreStats,
  type TimedBatchResult,
} from "./redis-store.ts";
