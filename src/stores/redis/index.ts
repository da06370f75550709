/**
 * @module
 * The Redis store (ioredis, optional peer dependency, loaded on first use).
 */
export { RedisStore, type RedisStoreOptions, type RedisStoreStats } from "./redis-store.ts";
