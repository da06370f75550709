/**
 * @module
 * The PostgreSQL store: limiter state in one table, decisions made on the server with the server's clock. The
 * decisions a process makes in one event-loop turn go together as one call of `<table>_decide_batch`
 * (`batch-sql.ts`): every row locked once in one order, one clock read after the locks, the calls applied in
 * arrival order, each all or nothing, one commit. Several batches may be in flight on the pool's connections.
 *
 * A lone call (nothing else in its turn) takes the single-call statements, which are faster for one call: a
 * single rate op of a fixed window, sliding window counter, token or leaky bucket its prepared plain-SQL
 * statement (`rate-sql.ts`; when the key's row does not exist yet it returns no row and the call goes on to the
 * lean `<table>_decide_one`, which inserts it), the exact log `<table>_decide_one`, and a composite or a
 * concurrency op the batch function as a batch of one. Peeks read through `<table>_decide` (no locks), those of
 * one turn in one call of it. All of them share the math and the row layout.
 *
 * Refunds, charges and lease releases of one turn go together the same way, as one call of `<table>_refund` over
 * all their ops.
 *
 * Round trips: one per batch of decisions, one per batch of peeks, one per batch of refunds, charges and
 * releases, and one per `reset` and `renew`, except a lone single rate op on a key without a row yet, which
 * takes two, and a peek of a limiter with a block, which reads the block's row with one more. The first call of
 * a store also loads the driver, opens a connection and, with `auto_create`, runs the DDL once.
 */

import type { PostgresStoreConfig } from "../../config/types.ts";
import type { TurnBatcherStats } from "../batching/turn-batcher.ts";
import type { PostgresClientLike } from "../clients.ts";
import type { CircuitBreakerOptions } from "../guard/breaker.ts";
import { GuardedStore, type GuardedStoreStats } from "../guard/guarded-store.ts";
import type { Sql } from "./driver.ts";
import { type DecidePaths, PostgresDriver } from "./postgres-driver.ts";

export { POOL_IDLE_TIMEOUT_S } from "./pool.ts";

/** Tuning of a {@link PostgresStore} that is not part of the config file. */
export interface PostgresStoreOptions {
  /**
   * How often this process deletes expired rows, in ms. Every process sweeps; `SKIP LOCKED` keeps them from
   * waiting on each other or on decisions. `0` turns the background sweep off.
   * @default 10_000
   */
  readonly cleanupIntervalMs?: number;
  /** Rows deleted per sweep statement (a sweep repeats it a few times while full batches come back). @default 1_000 */
  readonly cleanupBatchSize?: number;
  /**
   * `application_name` of the store's connections, to find them in `pg_stat_activity`.
   * @default "rate-sync"
   */
  readonly applicationName?: string;
  /** Circuit breaker tuning. @default `{ failureThreshold: 5, coolDownMs: 1000 }` */
  readonly breaker?: CircuitBreakerOptions;
  /**
   * Answer repeated denials of one key locally until their retry time, without a round trip.
   * @default true
   */
  readonly overLimitCache?: boolean;
  /**
   * A postgres.js `sql` the application owns, to run on instead of a pool of the store's own (the config's
   * `url` and pool settings are then not used). `close()` leaves it open; the server-side `statement_timeout`
   * is the application's to set (calls past their budget are still cancelled).
   */
  readonly client?: PostgresClientLike;
}

/** Counters of a {@link PostgresStore}, since it was created. */
export type PostgresStoreStats = GuardedStoreStats;

/** Reaches a store's driver; set by the class's static block. */
let driverOf: (store: PostgresStore) => PostgresDriver;

/**
 * A {@link Store} backed by PostgreSQL through the `postgres` package (an optional peer dependency, loaded on
 * first use): the guarded store around the PostgreSQL driver. One connection pool per store, shared by every
 * limiter on it.
 *
 * @example
 * ```ts
 * const store = new PostgresStore({
 *   id: "db", engine: "postgres", url: "postgres://app@db/rates", tableName: "rate_sync_state",
 *   schemaName: "public", autoCreate: true, unlogged: false, poolMaxSize: 10, timeoutMs: 1000,
 * });
 * const { allowed } = await store.decide([{ limiterId: "api", key: "k", params, cost: 1 }], 0);
 * await store.close();
 * ```
 */
export class PostgresStore extends GuardedStore<PostgresDriver> {
  declare readonly engine: "postgres";

  static {
    driverOf = (store) => store.driver;
  }

  constructor(config: PostgresStoreConfig, options: PostgresStoreOptions = {}) {
    super(
      {
        id: config.id,
        engine: "postgres",
        timeoutMs: config.timeoutMs,
        breaker: options.breaker,
        overLimitCache: options.overLimitCache === false ? false : undefined,
      },
      (calls) =>
        new PostgresDriver(config, calls, {
          applicationName: options.applicationName ?? "rate-sync",
          cleanupIntervalMs: options.cleanupIntervalMs ?? 10_000,
          cleanupBatchSize: options.cleanupBatchSize ?? 1_000,
          ...(options.client === undefined ? {} : { client: options.client as unknown as Sql }),
        }),
    );
  }

  /**
   * Deletes expired rows now, in batches of `batchSize` (at most a few batches), and returns how many went.
   * The background sweep calls this; it is public for operations scripts and tests.
   */
  cleanupExpired(batchSize = 1_000): Promise<number> {
    return this.driver.cleanupExpired(batchSize);
  }

  /**
   * Connects and, with `auto_create`, brings the schema to this library's version now rather than on the first
   * decision (without it, checks the version). Rejects with a `StoreError` (or `StoreUnavailableError`) like
   * any call; a database whose schema is newer than this library is refused.
   */
  ensureReady(): Promise<void> {
    return this.driver.ensureReady();
  }
}

/**
 * Switches the statements a store's single rate ops take (see {@link DecidePaths}), for the tests that compare
 * the paths on the same rows. Internal: not part of the store's options.
 */
export function tuneDecidePaths(store: PostgresStore, paths: DecidePaths): void {
  driverOf(store).tune(paths);
}

/**
 * The batch counts and batch-size distribution of a store's decisions so far (see `TurnBatcher.stats`), for
 * tests and the bench. Internal: not part of the store's API.
 */
export function postgresBatchStats(store: PostgresStore): TurnBatcherStats {
  return driverOf(store).batchStats();
}

/**
 * The batch counts and batch-size distribution of a store's refunds (and charges) so far, as
 * {@link postgresBatchStats} for decisions. Internal: not part of the store's API.
 */
export function postgresRefundBatchStats(store: PostgresStore): TurnBatcherStats {
  return driverOf(store).refundBatchStats();
}

/**
 * The batch counts and batch-size distribution of a store's peeks so far, as {@link postgresBatchStats} for
 * decisions. Internal: not part of the store's API.
 */
export function postgresPeekBatchStats(store: PostgresStore): TurnBatcherStats {
  return driverOf(store).peekBatchStats();
}
