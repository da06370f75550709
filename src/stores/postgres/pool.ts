/**
 * @module
 * The connection pool of a PostgreSQL store: loads the `postgres` package, creates the pool on first use (bringing
 * the schema to this library's version once with `auto_create`, checking it without), retries a failed start on
 * the next call, and replaces the pool after an outage while the old one still receives late rows. On the
 * application's own `sql` (a client given in code), it creates no pool and never ends or replaces that one.
 */

import type { PostgresStoreConfig } from "../../config/types.ts";
import { StoreError, StoreUnavailableError } from "../../errors.ts";
import { schemaMarker } from "./ddl.ts";
import { loadDriver, type PostgresFactory, type Sql } from "./driver.ts";
import type { PostgresNames } from "./identifiers.ts";
import { migrateSchema } from "./migrate.ts";
import { readSchemaState, SCHEMA_VERSION, schemaTooNew } from "./migrations.ts";

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
  /** The application's own `sql` to run on, instead of a pool of the store's (see {@link PostgresPool}). */
  readonly client?: Sql;
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

  /** The application's `sql` (`RateSyncOptions.clients`): used as it is, never ended or replaced. */
  readonly #client: Sql | undefined;

  constructor(config: PostgresStoreConfig, settings: PostgresPoolSettings) {
    this.#config = config;
    this.#settings = settings;
    this.#client = settings.client;
  }

  /** Loads the `postgres` package (once); a pool on the application's `sql` needs none. */
  loadDriver(): Promise<unknown> {
    if (this.#client !== undefined) return Promise.resolve();
    return this.#factory();
  }

  #factory(): Promise<PostgresFactory> {
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
    // The application's pool is its own to manage: it stays (its broken connections are its driver's concern).
    if (this.#client !== undefined) return;
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
    const sql = this.#client ?? this.#sql ?? (await this.#createPool());
    if (!this.#schemaReady) {
      await (this.#config.autoCreate ? this.#createSchema(sql) : this.#checkSchema(sql));
      this.#schemaReady = true;
    }
    this.#settings.onReady();
    return sql;
  }

  async #createPool(): Promise<Sql> {
    const postgres = await this.#factory();
    if (this.#settings.isClosed()) throw new StoreError(this.#settings.storeId, "the store is closed");
    const config = this.#config;
    if (config.url === undefined) throw new StoreError(this.#settings.storeId, "the store has no url");
    const connectMs = config.socketConnectTimeoutMs ?? config.timeoutMs;
    const sql = postgres(config.url, {
      max: config.poolMaxSize,
      connect_timeout: Math.max(0.001, connectMs / 1000),
      // Idle connections close soon; the pool reopens them on demand. postgres.js has no unref: an open
      // connection (and its idle timer) keeps the process alive, so this is how long a script that never
      // calls close() lingers after its last call. A busy server keeps its connections.
      idle_timeout: POOL_IDLE_TIMEOUT_S,
      prepare: true,
      // No type fetch on connect: postgres.js runs it from a socket callback without handling its failure, so a
      // connection reset during it (a restart, a flaky link) was an unhandled rejection that ended the process.
      // It also costs each new connection a round trip. Arrays go as literals instead (`wireParams`).
      fetch_types: false,
      onnotice: () => {},
      connection: {
        application_name: this.#settings.applicationName,
        // The server gives up on a statement soon after the caller has: a lock queue never holds a
        // connection much longer than the budget of the call that is waiting.
        statement_timeout: this.#statementTimeoutMs(),
        // Every statement of the store finds its rows by key, through an index. A prepared statement's cached
        // plan made while the table was nearly empty would read it whole, and keep doing so as it grows, until
        // the next analyze (the functions set the same for their own statements: `TABLE_FUNCTION_SETTINGS`).
        enable_seqscan: "off",
      },
    });
    this.#sql = sql;
    return sql;
  }

  /**
   * `auto_create`: brings the schema to this library's version (`migrate.ts`), unless the marker says it is there
   * already. Without it: only checks the version, so a database migrated by a newer rate-sync, or not yet by
   * this one, is refused with a message that says what to do rather than failing on a missing function.
   */
  async #createSchema(sql: Sql): Promise<void> {
    const marker = schemaMarker(this.#config);
    const check = `SELECT obj_description(to_regprocedure($1::text), 'pg_proc') AS comment,
      to_regclass($2::text) IS NOT NULL AS has_table`;
    const [row] = await sql.unsafe(check, [marker.procedure, marker.table]);
    // The common case (every start but the first after an install or upgrade): nothing to do, no lock taken.
    if (row?.comment === marker.comment && row?.has_table === true) return;
    await migrateSchema(sql, this.#config, { storeId: this.#settings.storeId });
  }

  /** `auto_create = false`: the schema must be at this library's version already. */
  async #checkSchema(sql: Sql): Promise<void> {
    const names = this.#settings.names;
    const { version } = await readSchemaState(sql, names);
    const storeId = this.#settings.storeId;
    if (version > SCHEMA_VERSION) throw schemaTooNew(storeId, names, version, SCHEMA_VERSION);
    if (version < SCHEMA_VERSION) {
      throw new StoreError(
        storeId,
        version === 0
          ? `the table ${names.display} does not exist and auto_create is false; create it with \`rate-sync migrate\` (or the SQL of \`rate-sync sql\`)`
          : `the schema of ${names.display} is at version ${version}, older than this rate-sync needs (version ${SCHEMA_VERSION}), and auto_create is false; upgrade it with \`rate-sync migrate\``,
      );
    }
  }
}
