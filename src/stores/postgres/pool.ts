/**
 * @module
 * The connection pool of a PostgreSQL store: loads the `postgres` package, creates the pool on first use (running
 * the DDL once with `auto_create`), retries a failed start on the next call, and replaces the pool after an
 * outage while the old one still receives late rows.
 */

import type { PostgresStoreConfig } from "../../config/types.ts";
import { StoreError, StoreUnavailableError } from "../../errors.ts";
import { ddlStatements, schemaMarker } from "./ddl.ts";
import { loadDriver, type PostgresFactory, type Sql } from "./driver.ts";
import type { PostgresNames } from "./identifiers.ts";

/**
 * Seconds after which an idle pooled connection closes. Short, since an idle connection holds the process
 * open (postgres.js cannot unref it); reopening one costs a connect and re-preparing a statement.
 */
export const POOL_IDLE_TIMEOUT_S = 5;

/** What a {@link PostgresPool} needs from its store. */
export interface PostgresPoolSettings {
  readonly storeId: string;
  readonly names: PostgresNames;
  readonly applicationName: string;
  /** True once the store was closed: no pool is created any more. */
  readonly isClosed: () => boolean;
  /** Called each time a pool is ready (starts the expiry sweep). */
  readonly onReady: () => void;
}

/** The pool of one PostgreSQL store, shared by every limiter on it. */
export class PostgresPool {
  readonly #config: PostgresStoreConfig;
  readonly #settings: PostgresPoolSettings;
  /** The driver factory; a missing package rejects once and for all with `StoreUnavailableError`. */
  #driver: Promise<PostgresFactory> | undefined;
  /** The pool once the driver is loaded (and the schema ensured); reset on a failed start so the next call retries. */
  #ready: Promise<Sql> | undefined;
  /** The pool, once created: `close()` must end it even when the schema step failed. */
  #sql: Sql | undefined;
  /** Ends of pools replaced after an outage that still wait for their late rows (run early by `close()`). */
  readonly #retiring = new Set<() => void>();
  /** True once auto-create has run: a pool rebuilt after an outage does not run the DDL again. */
  #schemaReady = false;

  constructor(config: PostgresStoreConfig, settings: PostgresPoolSettings) {
    this.#config = config;
    this.#settings = settings;
  }

  /** Loads the `postgres` package (once). */
  loadDriver(): Promise<PostgresFactory> {
    this.#driver ??= loadDriver(this.#settings.storeId);
    return this.#driver;
  }

  /** The pool, created (and the schema ensured) on first use. */
  get(): Promise<Sql> {
    if (this.#ready === undefined) {
      const ready = this.#start();
      this.#ready = ready;
      // A failed start (server down, DDL error) must not stick: the next call tries again. A missing driver
      // does stick — installing a package needs a restart anyway.
      ready.catch((error: unknown) => {
        if (!(error instanceof StoreUnavailableError) && this.#ready === ready) this.#ready = undefined;
      });
    }
    return this.#ready;
  }

  /**
   * Forgets the pool; the next call builds a new one. The old pool is ended once the server's
   * `statement_timeout` (plus a second) has passed: rows a statement sends after its caller timed out must
   * still arrive, to be given back (see the driver's `#undoLate`). Ending it at once would lose them, and so
   * would a graceful end, which closes a connection after its active statement while statements pipelined
   * behind it are still to run on the server.
   */
  drop(): void {
    const sql = this.#sql;
    this.#sql = undefined;
    this.#ready = undefined;
    if (sql === undefined) return;
    const end = () => {
      this.#retiring.delete(end);
      sql.end({ timeout: 0 }).catch(() => {});
    };
    this.#retiring.add(end);
    setTimeout(end, this.#statementTimeoutMs() + 1_000).unref();
  }

  /** The server-side `statement_timeout` of the store's connections, in ms. */
  #statementTimeoutMs(): number {
    const config = this.#config;
    return Math.max(1, Math.ceil(config.socketTimeoutMs ?? config.timeoutMs * 2));
  }

  /** Ends every pool, after the calls in flight (forcibly after a grace period). */
  async close(): Promise<void> {
    for (const end of [...this.#retiring]) end();
    const sql = this.#sql;
    this.#sql = undefined;
    this.#ready = undefined;
    if (sql !== undefined)
      await sql.end({ timeout: Math.max(1, this.#config.timeoutMs / 1000) }).catch(() => {});
  }

  async #start(): Promise<Sql> {
    const sql = this.#sql ?? (await this.#createPool());
    if (this.#config.autoCreate && !this.#schemaReady) {
      await this.#createSchema(sql);
      this.#schemaReady = true;
    }
    this.#settings.onReady();
    return sql;
  }

  async #createPool(): Promise<Sql> {
    const postgres = await this.loadDriver();
    if (this.#settings.isClosed()) throw new StoreError(this.#settings.storeId, "the store is closed");
    const config = this.#config;
    const connectMs = config.socketConnectTimeoutMs ?? config.timeoutMs;
    const sql = postgres(config.url, {
      max: config.poolMaxSize,
      connect_timeout: Math.max(0.001, connectMs / 1000),
      // Idle connections close soon; the pool reopens them on demand. postgres.js has no unref: an open
      // connection (and its idle timer) keeps the process alive, so this is how long a script that never
      // calls close() lingers after its last call. A busy server keeps its connections.
      idle_timeout: POOL_IDLE_TIMEOUT_S,
      prepare: true,
      onnotice: () => {},
      connection: {
        application_name: this.#settings.applicationName,
        // The server gives up on a statement soon after the caller has: a lock queue never holds a
        // connection much longer than the budget of the call that is waiting.
        statement_timeout: this.#statementTimeoutMs(),
      },
    });
    this.#sql = sql;
    return sql;
  }

  async #createSchema(sql: Sql): Promise<void> {
    const marker = schemaMarker(this.#config);
    const check = `SELECT obj_description(to_regprocedure($1::text), 'pg_proc') AS comment,
      to_regclass($2::text) IS NOT NULL AS has_table`;
    const upToDate = async (runner: Pick<Sql, "unsafe">) => {
      const [row] = await runner.unsafe(check, [marker.procedure, marker.table]);
      return row?.comment === marker.comment && row?.has_table === true;
    };
    // The common case (every start but the first after an install or upgrade): nothing to do, no lock taken.
    if (await upToDate(sql)) return;
    const statements = ddlStatements(this.#config);
    const lockKey = `rate-sync ddl ${this.#settings.names.display}`;
    // Several processes may start at once: CREATE … IF NOT EXISTS and CREATE OR REPLACE FUNCTION are not safe
    // against each other (duplicate catalog rows, "tuple concurrently updated"), so they run one at a time
    // under a transaction-scoped advisory lock, and whoever comes second finds the work done.
    await sql.begin(async (tx) => {
      await tx.unsafe("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))", [lockKey]);
      if (await upToDate(tx)) return;
      for (const statement of statements) await tx.unsafe(statement);
    });
  }
}
