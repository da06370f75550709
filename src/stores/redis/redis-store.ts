/**
 * @module
 * The Redis store: every decision is decided in one Lua script run that reads the store's clock with `TIME`,
 * decides, writes and sets the TTL atomically; the decisions of one event-loop turn share that run (one round
 * trip per turn and node, or hash slot on a Cluster), each decided exactly as it would be alone; peeks of one
 * turn share one run of the peek script, and refunds, charges and lease releases one run of the refund script,
 * per node or hash slot likewise. Calls go
 * through a circuit breaker and a time budget, each on its own; floods of denied single-member calls are
 * answered by a local over-limit cache.
 *
 * Composite decisions: on a single Redis every member is decided in one script, all-or-nothing. On a Redis
 * Cluster, members whose keys live in different hash slots cannot share a script, so they are decided one by
 * one and the members that passed are refunded when a later one denies (the same guarantee the engine gives
 * across stores: nothing stays consumed, though another caller may briefly see the passed members' usage).
 *
 * Calls that time out: a decide carries its deadline on the Redis clock (see `StoreClock`), and the script
 * refuses to run past it, so a call stuck behind a frozen server or in the reconnect queue is not applied when it
 * finally arrives. A decide that ran in time but whose "allowed" reply arrives after the caller gave up is
 * refunded at once. What remains: a decide that ran before its deadline and whose reply was then lost with the
 * connection stays applied (leases still expire at their lease time).
 */

import type { RedisStoreConfig } from "../../config/types.ts";
import type { TurnBatcherStats } from "../batching/turn-batcher.ts";
import type { CircuitBreakerOptions } from "../guard/breaker.ts";
import { GuardedStore, type GuardedStoreStats } from "../guard/guarded-store.ts";
import type { OverLimitCacheOptions } from "../guard/over-limit-cache.ts";
import type { IoRedisModule, RedisClientLike } from "./client.ts";
import { RedisDriver } from "./redis-driver.ts";

/** Counters of a {@link RedisStore} (see {@link RedisStore.stats}). */
export type RedisStoreStats = GuardedStoreStats;

/** Tuning of a {@link RedisStore} beyond its config. */
export interface RedisStoreOptions {
  /** Circuit breaker settings. @default { failureThreshold: 5, failureWindowMs: 10_000, coolDownMs: 1_000 } */
  readonly breaker?: CircuitBreakerOptions;
  /** Over-limit cache settings, or `false` to turn the cache off. @default { maxEntries: 10_000 } */
  readonly overLimitCache?: OverLimitCacheOptions | false;
  /**
   * An ioredis `Redis` or `Cluster` the application owns, to run on instead of opening a connection (the
   * config's `url`, `sentinels` and connection settings are then not used). `close()` leaves it open.
   */
  readonly client?: RedisClientLike;
  /**
   * How to import ioredis. For tests that simulate a missing package.
   * @internal
   */
  readonly importDriver?: () => Promise<IoRedisModule>;
}

/**
 * A {@link Store} on Redis or Redis Cluster (ioredis, loaded on first use): the guarded store around the Redis
 * driver.
 *
 * @example
 * ```ts
 * const store = new RedisStore({ id: "main", engine: "redis", url: "redis://127.0.0.1:6379", keyPrefix: "rate_sync",
 *   cluster: false, poolMaxSize: 10, timeoutMs: 1000 });
 * const { allowed } = await store.decide([{ limiterId: "api", key: "api", params, cost: 1 }], 0);
 * ```
 */
export class RedisStore extends GuardedStore<RedisDriver> {
  declare readonly engine: "redis";

  constructor(config: RedisStoreConfig, options: RedisStoreOptions = {}) {
    super(
      {
        id: config.id,
        engine: "redis",
        timeoutMs: config.timeoutMs,
        breaker: options.breaker,
        overLimitCache: options.overLimitCache,
      },
      (calls) => new RedisDriver(config, calls, options.importDriver, options.client),
    );
  }

  /**
   * How the decisions sent so far were batched (batches, calls, batch sizes), for benchmarks and tests.
   * @internal
   */
  batchStats(): TurnBatcherStats {
    return this.driver.batchStats();
  }

  /**
   * How the refunds (and charges) sent so far were batched, as {@link batchStats} for decisions.
   * @internal
   */
  refundBatchStats(): TurnBatcherStats {
    return this.driver.refundBatchStats();
  }

  /** How the peeks sent so far were batched, as {@link batchStats} for decisions. */
  peekBatchStats(): TurnBatcherStats {
    return this.driver.peekBatchStats();
  }
}
