/**
 * @module
 * The PostgreSQL store: limiter state in one table, every decision one statement deciding with the server's
 * clock (see `functions-sql.ts`). A single rate op — the common call — of a fixed window, sliding window
 * counter, token or leaky bucket takes a prepared plain-SQL statement of its algorithm (`rate-sql.ts`: no
 * function call at all); when the key's row does not exist yet that statement returns no row and the call goes
 * on to the lean `<table>_decide_one` function, which inserts it. The exact log and a peek of one op take
 * `<table>_decide_one` directly (scalar parameters, one row locked, one UPDATE only when allowed); composites
 * and concurrency take the general `<table>_decide` function (parallel arrays, all rows locked in one order,
 * all or nothing). All of them share the math and the row layout.
 *
 * Round trips: one per `decide`, `peek`, `refund`, `reset`, `release` and `renew`, except a single rate op on a
 * key without a row yet (a new key, or one the sweep deleted), which takes two. The first call of a store also
 * loads the driver, opens a connection and, with `auto_create`, runs the DDL once.
 */

import type { PostgresStoreConfig } from "../../config/types.ts";
import { InvalidArgumentError, StoreError, StoreUnavailableError } from "../../errors.ts";
import {
  type BreakerState,
  CircuitBreaker,
  type CircuitBreakerOptions,
  OverLimitCache,
  toStoreError,
  withTimeout,
} from "../resilience.ts";
import type { BatchResult, OpResult, Store, StoreOp } from "../store.ts";
import { encodeText, rowNowMs, toBatchArrays, toOneOpParams, toOpResult } from "./codec.ts";
import { ddlStatements, schemaMarker } from "./ddl.ts";
import { loadDriver, type PostgresFactory, type Sql } from "./driver.ts";
import { type PostgresNames, postgresNames } from "./identifiers.ts";
import { PLAIN_RATE_KINDS, singleRateStatementSql } from "./rate-sql.ts";
import { ExpirySweeper } from "./sweeper.ts";

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
   * Decide and peek a single rate op (the common call) with the lean `<table>_decide_one` function. `false` sends
   * every call through the general `<table>_decide` function: both give the same answers on the same rows, and
   * the tests use it to check exactly that. There is no reason to turn it off in production.
   * @default true
   * @internal
   */
  readonly leanSingleOp?: boolean;
  /**
   * With `leanSingleOp`, decide a single fixed window, sliding window counter, token or leaky bucket op on an
   * existing row with its plain-SQL statement rather than `<table>_decide_one`. `false` keeps every single op
   * on `<table>_decide_one`; the tests use it to compare the two paths on the same rows.
   * @default true
   * @internal
   */
  readonly plainSqlSingleOp?: boolean;
}

/** Counters of a {@link PostgresStore}, since it was created. */
export interface PostgresStoreStats {
  /** Calls received (decide, peek, refund, reset, release, renew), including those answered locally. */
  readonly calls: number;
  /** Calls that failed (error, timeout, breaker open). */
  readonly errors: number;
  /** Denials answered by the local over-limit cache without a round trip. */
  readonly cacheHits: number;
  /**
   * Decisions whose "allowed" rows came back after the call had timed out, and which were therefore given back
   * (refunded, leases released): their caller saw a store error.
   */
  readonly lateRefunds: number;
  /** The circuit breaker's state now. */
  readonly breaker: BreakerState;
}

/** A decision together with the store time it was made at (for tests comparing with the reference model). */
export interface TimedBatchResult {
  readonly batch: BatchResult;
  /** The store clock (`clock_timestamp()` in ms since the epoch) the decision was made with. */
  readonly nowMs: number;
}

/**
 * A {@link Store} backed by PostgreSQL through the `postgres` package (an optional peer dependency, loaded on
 * first use). One connection pool per store, shared by every limiter on it.
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
export class PostgresStore implements Store {
  /** The store's id in the config. */
  readonly id: string;
  readonly engine = "postgres" as const;

  readonly #config: PostgresStoreConfig;
  readonly #names: PostgresNames;
  readonly #applicationName: string;
  readonly #breaker: CircuitBreaker;
  /** Recent single-member denials; `undefined` when turned off. */
  readonly #cache: OverLimitCache | undefined;
  /** Whether a single rate op takes the lean function (see {@link PostgresStoreOptions.leanSingleOp}). */
  readonly #lean: boolean;
  /** The plain-SQL single-op statement of each algorithm that has one (empty when turned off). */
  readonly #plainSql: ReadonlyMap<string, string>;
  #calls = 0;
  #errors = 0;
  #cacheHits = 0;
  #lateRefunds = 0;
  /** The driver factory; a missing package rejects once and for all with `StoreUnavailableError`. */
  #driver: Promise<PostgresFactory> | undefined;
  readonly #sweeper: ExpirySweeper;
  /** The pool once the driver is loaded (and the schema ensured); reset on a failed start so the next call retries. */
  #ready: Promise<Sql> | undefined;
  /** The pool, once created: `close()` must end it even when the schema step failed. */
  #sql: Sql | undefined;
  #closed = false;
  /** Ends of pools replaced after an outage that still wait for their late rows (run early by `close()`). */
  readonly #retiring = new Set<() => void>();
  /** True once auto-create has run: a pool rebuilt after an outage does not run the DDL again. */
  #schemaReady = false;

  readonly #decideSql: string;
  readonly #decideOneSql: string;
  readonly #refundSql: string;
  readonly #resetSql: string;
  readonly #releaseSql: string;
  readonly #renewSql: string;
  readonly #sweepSql: string;

  constructor(config: PostgresStoreConfig, options: PostgresStoreOptions = {}) {
    this.id = config.id;
    this.#config = config;
    this.#names = postgresNames(config.schemaName, config.tableName);
    this.#applicationName = options.applicationName ?? "rate-sync";
    this.#breaker = new CircuitBreaker(config.id, options.breaker);
    this.#cache = options.overLimitCache === false ? undefined : new OverLimitCache();
    this.#lean = options.leanSingleOp !== false;
    this.#plainSql = new Map(
      this.#lean && options.plainSqlSingleOp !== false
        ? PLAIN_RATE_KINDS.map((kind) => [kind, singleRateStatementSql(this.#names, kind)])
        : [],
    );
    const t = this.#names.table;
    this.#decideSql = `SELECT * FROM ${this.#names.decideFunction}($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::float8[], $8::text[], $9::float8, $10::boolean)`;
    this.#decideOneSql = `SELECT * FROM ${this.#names.decideOneFunction}($1::text, $2::text, $3::text, $4::text, $5::float8, $6::float8, $7::float8, $8::float8, $9::boolean)`;
    this.#refundSql = `SELECT ${this.#names.refundFunction}($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::float8[], $8::text[]) AS now_ms`;
    // Rows are locked in the decisions' order (tag, then lease) before they go, so a reset never deadlocks with
    // a composite holding two states of the same key, whatever plan the DELETE would otherwise use.
    this.#resetSql = `DELETE FROM ${t} WHERE ctid = ANY (ARRAY(
  SELECT ctid FROM ${t} WHERE limiter_id = $1::text AND key = $2::text ORDER BY tag, lease_id FOR UPDATE
))`;
    this.#releaseSql = `DELETE FROM ${t} WHERE limiter_id = $1::text AND key = $2::text AND tag = 'cc' AND lease_id = $3::text AND lease_id <> ''`;
    this.#renewSql = `SELECT ${this.#names.renewFunction}($1::text, $2::text, $3::text, $4::float8) AS renewed`;
    // The index on expires_at finds the batch: `now()` (not `clock_timestamp()`, which is volatile) can be an
    // index condition, so a sweep with nothing to do reads one index page, not the whole index. SKIP LOCKED
    // leaves rows a decision holds (it is rewriting them anyway). The rows picked stay locked until the delete,
    // and FOR UPDATE rechecks a row updated meanwhile (a renewed lease is no longer picked), so the delete
    // itself is a plain TID scan of at most one batch.
    this.#sweepSql = `DELETE FROM ${t} WHERE ctid = ANY (ARRAY(
  SELECT ctid FROM ${t} WHERE expires_at < now() ORDER BY expires_at LIMIT $1::int FOR UPDATE SKIP LOCKED
))`;
    this.#sweeper = new ExpirySweeper({
      intervalMs: options.cleanupIntervalMs ?? 10_000,
      batchSize: options.cleanupBatchSize ?? 1_000,
      sweepBatch: (limit) => this.#sweepBatch(limit),
    });
  }

  /**
   * A denial the local over-limit cache already knows, answered without a promise; `undefined` for anything
   * that needs the store (then use {@link decide}).
   */
  decideNow(ops: readonly StoreOp[], maxWaitMs: number): BatchResult | undefined {
    if (this.#closed) return undefined;
    const batch = this.#cache?.answerBatch(ops, maxWaitMs);
    if (batch !== undefined) {
      this.#calls += 1;
      this.#cacheHits += 1;
    }
    return batch;
  }

  async decide(ops: readonly StoreOp[], maxWaitMs: number): Promise<BatchResult> {
    return (await this.decideTimed(ops, maxWaitMs)).batch;
  }

  /**
   * Like {@link decide}, and also reports the store time the decision was made with. The reference-model tests
   * use it to replay the same decision in `src/algorithms`; nothing lets a caller set the store's clock.
   * `nowMs` is NaN when no statement ran (an empty batch, or a denial answered by the local over-limit cache).
   * @internal
   */
  async decideTimed(ops: readonly StoreOp[], maxWaitMs: number): Promise<TimedBatchResult> {
    if (ops.length === 0) return { batch: { allowed: true, results: [] }, nowMs: Number.NaN };
    for (const op of ops) {
      if (op.params.kind === "concurrency" && (op.leaseId === undefined || op.leaseId === "")) {
        throw new InvalidArgumentError(`A concurrency decision needs a leaseId (limiter "${op.limiterId}")`);
      }
    }
    const cached = this.#cache?.answer(ops, maxWaitMs);
    if (cached !== undefined) {
      this.#calls += 1;
      this.#cacheHits += 1;
      return { batch: { allowed: false, results: [cached] }, nowMs: Number.NaN };
    }
    const sentAtMs = this.#cache?.now() ?? 0;
    const rows = await this.#decideRows("decide", ops, maxWaitMs, false, (late) => this.#undoLate(ops, late));
    const timed = this.#toTimed(rows, ops.length);
    this.#cache?.learn(ops, timed.batch.results, sentAtMs);
    return timed;
  }

  async peek(op: StoreOp): Promise<OpResult> {
    return (await this.peekTimed(op)).result;
  }

  /** Like {@link peek}, with the store time. @internal */
  async peekTimed(op: StoreOp): Promise<{ readonly result: OpResult; readonly nowMs: number }> {
    const rows = await this.#decideRows("peek", [op], 0, true);
    const timed = this.#toTimed(rows, 1);
    const result = timed.batch.results[0];
    if (result === undefined) throw new StoreError(this.id, "peek returned no row");
    return { result, nowMs: timed.nowMs };
  }

  async refund(ops: readonly StoreOp[]): Promise<void> {
    await this.refundTimed(ops);
  }

  /** Like {@link refund}, and reports the store time of the refund (NaN for an empty list). @internal */
  async refundTimed(ops: readonly StoreOp[]): Promise<number> {
    if (ops.length === 0) return Number.NaN;
    for (const op of ops) this.#cache?.forget(op.limiterId, op.key);
    const rows = await this.#query("refund", this.#refundSql, toBatchArrays(ops));
    const now = (rows[0] as { now_ms?: unknown } | undefined)?.now_ms;
    return typeof now === "number" ? now : Number.NaN;
  }

  async reset(limiterId: string, key: string): Promise<void> {
    this.#cache?.forget(limiterId, key);
    await this.#query("reset", this.#resetSql, [encodeParam(limiterId), encodeParam(key)]);
  }

  async release(limiterId: string, key: string, leaseId: string): Promise<void> {
    this.#cache?.forget(limiterId, key);
    await this.#query("release", this.#releaseSql, [
      encodeParam(limiterId),
      encodeParam(key),
      encodeParam(leaseId),
    ]);
  }

  async renew(limiterId: string, key: string, leaseId: string, leaseMs: number): Promise<boolean> {
    const rows = await this.#query("renew", this.#renewSql, [
      encodeParam(limiterId),
      encodeParam(key),
      encodeParam(leaseId),
      leaseMs,
    ]);
    return (rows[0] as { renewed?: unknown } | undefined)?.renewed === true;
  }

  /**
   * Deletes expired rows now, in batches of `batchSize` (at most a few batches), and returns how many went.
   * The background sweep calls this; it is public for operations scripts and tests.
   */
  async cleanupExpired(batchSize = 1_000): Promise<number> {
    return this.#sweeper.sweepNow(batchSize);
  }

  /** Calls, errors, local over-limit cache hits and the circuit breaker's state. */
  stats(): PostgresStoreStats {
    return {
      calls: this.#calls,
      errors: this.#errors,
      cacheHits: this.#cacheHits,
      lateRefunds: this.#lateRefunds,
      breaker: this.#breaker.state,
    };
  }

  /**
   * Connects and, with `auto_create`, creates the table, index and functions now rather than on the first
   * decision. Rejects with a `StoreError` (or `StoreUnavailableError`) like any call.
   */
  async ensureReady(): Promise<void> {
    await this.#guarded("connect", () => this.#pool());
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#sweeper.stop();
    for (const end of [...this.#retiring]) end();
    const sql = this.#sql;
    this.#sql = undefined;
    this.#ready = undefined;
    // Calls in flight finish (or fail) first; then connections close, forcibly after a grace period.
    if (sql !== undefined)
      await sql.end({ timeout: Math.max(1, this.#config.timeoutMs / 1000) }).catch(() => {});
  }

  /**
   * Runs a decision (or peek): one rate op takes its plain-SQL statement (falling back to the lean single-row
   * function when the row is missing) or the lean function, anything else (composites, concurrency) the general
   * one. All return the same row shape. `onLate` receives rows that come back after the time budget.
   */
  #decideRows(
    what: string,
    ops: readonly StoreOp[],
    maxWaitMs: number,
    peek: boolean,
    onLate?: (rows: RowsWithCount) => void,
  ): Promise<RowsWithCount> {
    const single = ops.length === 1 ? ops[0] : undefined;
    if (this.#lean && single !== undefined && single.params.kind !== "concurrency") {
      const oneParams = [...toOneOpParams(single), maxWaitMs, peek];
      const plain = peek ? undefined : this.#plainSql.get(single.params.kind);
      if (plain === undefined) return this.#query(what, this.#decideOneSql, oneParams, onLate);
      const [limiter, key, tag, , a, b, cost] = oneParams;
      // One call (one time budget, one count): the plain statement, then the function only for a missing row.
      return this.#guarded(
        what,
        async (signal) => {
          const sql = await this.#pool();
          const rows = await this.#execute(sql, plain, [limiter, key, tag, a, b, cost, maxWaitMs], signal);
          return rows.length > 0 ? rows : this.#execute(sql, this.#decideOneSql, oneParams, signal);
        },
        onLate,
      );
    }
    return this.#query(what, this.#decideSql, [...toBatchArrays(ops), maxWaitMs, peek], onLate);
  }

  /**
   * Rows of a decision that came back after its caller timed out: the caller saw a store error, so what the
   * statement applied is given back. (A statement the time budget's cancel stopped applied nothing and sends
   * no rows.)
   */
  #undoLate(ops: readonly StoreOp[], rows: RowsWithCount): void {
    let allowed: boolean;
    try {
      allowed = this.#toTimed(rows, ops.length).batch.allowed;
    } catch {
      return;
    }
    if (!allowed) return;
    this.#lateRefunds += 1;
    for (const op of ops) this.#cache?.forget(op.limiterId, op.key);
    // Around the breaker: late rows come exactly when it has just opened, and this refund must not be failed
    // fast. Best effort: if the server fails again now, leases still expire at their lease time.
    this.#pool()
      .then((sql) =>
        withTimeout(
          this.#execute(sql, this.#refundSql, toBatchArrays(ops), undefined),
          this.#config.timeoutMs,
          this.id,
          "refund",
        ),
      )
      .catch(() => {});
  }

  #toTimed(rows: readonly unknown[], expected: number): TimedBatchResult {
    if (rows.length !== expected) {
      throw new StoreError(
        this.id,
        `the decide function returned ${rows.length} rows for ${expected} members`,
      );
    }
    try {
      const results = rows.map(toOpResult);
      return { batch: { allowed: results.every((r) => r.allowed), results }, nowMs: rowNowMs(rows[0]) };
    } catch (error) {
      throw new StoreError(this.id, error instanceof Error ? error.message : "bad reply", { cause: error });
    }
  }

  async #sweepBatch(limit: number): Promise<number> {
    if (this.#closed) return 0;
    // The sweep has the same time budget, but stays out of the call counters and the breaker: it is not a
    // caller's call, and a breaker opened by housekeeping would fail callers for nothing.
    const sql = await this.#pool();
    const rows = await withTimeout(
      this.#execute(sql, this.#sweepSql, [limit], undefined),
      this.#config.timeoutMs,
      this.id,
      "cleanup",
    );
    return rows.count;
  }

  /** Runs one statement: counted, through the breaker, within the store's time budget, errors as StoreError. */
  async #query(
    what: string,
    text: string,
    params: readonly unknown[],
    onLate?: (rows: RowsWithCount) => void,
  ): Promise<RowsWithCount> {
    return this.#guarded(
      what,
      async (signal) => this.#execute(await this.#pool(), text, params, signal),
      onLate,
    );
  }

  /** `work` counted, through the breaker and within the time budget; `onLate` gets a value that comes too late. */
  async #guarded<T>(
    what: string,
    work: (signal: AbortSignal) => Promise<T>,
    onLate?: (value: T) => void,
  ): Promise<T> {
    if (this.#closed) throw new StoreError(this.id, "the store is closed");
    this.#calls += 1;
    let ran = false;
    try {
      // A missing driver is not an outage: it must surface as StoreUnavailableError on every call, never
      // open the breaker.
      await this.#loadDriver();
      ran = false;
      return await this.#breaker.run(() => {
        ran = true;
        const controller = new AbortController();
        return withTimeout(work(controller.signal), this.#config.timeoutMs, this.id, what, onLate).catch(
          (error: unknown) => {
            // Past the budget: drop the query if it still waits for a connection, cancel it if it runs.
            controller.abort();
            throw error;
          },
        );
      });
    } catch (error) {
      this.#errors += 1;
      // The breaker just opened (or a probe failed): start over with fresh connections. A black-holed link
      // leaves sockets that look open but never answer, and nothing else would ever replace them.
      if (ran && this.#breaker.state !== "closed") this.#dropPool();
      throw toStoreError(this.id, error, what);
    }
  }

  /** Sends one prepared statement; an aborted signal cancels it (and one aborted before sending skips it). */
  async #execute(
    sql: Sql,
    text: string,
    params: readonly unknown[],
    signal: AbortSignal | undefined,
  ): Promise<RowsWithCount> {
    if (signal?.aborted) throw new StoreError(this.id, "cancelled after the time budget");
    const query = sql.unsafe(text, params as never[], { prepare: true });
    signal?.addEventListener("abort", () => cancelQuietly(query), { once: true });
    const rows = await query;
    return rows as unknown as RowsWithCount;
  }

  /**
   * Forgets the pool; the next call builds a new one. The old pool is ended once the server's
   * `statement_timeout` (plus a second) has passed: rows a statement sends after its caller timed out must
   * still arrive, to be given back (see {@link #undoLate}). Ending it at once would lose them, and so would a
   * graceful end, which closes a connection after its active statement while statements pipelined behind it
   * are still to run on the server.
   */
  #dropPool(): void {
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

  #loadDriver(): Promise<PostgresFactory> {
    this.#driver ??= loadDriver(this.id);
    return this.#driver;
  }

  /** The pool, created (and the schema ensured) on first use. */
  #pool(): Promise<Sql> {
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

  async #start(): Promise<Sql> {
    const sql = this.#sql ?? (await this.#createPool());
    if (this.#config.autoCreate && !this.#schemaReady) {
      await this.#createSchema(sql);
      this.#schemaReady = true;
    }
    this.#sweeper.start();
    return sql;
  }

  async #createPool(): Promise<Sql> {
    const postgres = await this.#loadDriver();
    if (this.#closed) throw new StoreError(this.id, "the store is closed");
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
        application_name: this.#applicationName,
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
    const lockKey = `rate-sync ddl ${this.#names.display}`;
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

/**
 * Seconds after which an idle pooled connection closes. Short, since an idle connection holds the process
 * open (postgres.js cannot unref it); reopening one costs a connect and re-preparing a statement.
 */
export const POOL_IDLE_TIMEOUT_S = 5;

/** Rows as the driver returns them: an array with the affected row count. */
type RowsWithCount = readonly unknown[] & { readonly count: number };

function encodeParam(value: string): string {
  return encodeText(value);
}

function cancelQuietly(query: { cancel(): unknown }): void {
  // postgres.js pipelines statements on a busy connection. Cancelling one that is sent but still waiting behind
  // another is deferred until it becomes active, and the driver then skips it: its promise never settles, while
  // the server may well have run it. The rows of a statement that ran after its caller timed out must arrive, to
  // be given back, so only a statement not sent yet (dropped from the queue) or the active one (its promise
  // still settles, with rows or the cancel error) is cancelled. Fields the driver does not have: no cancel.
  const state = query as unknown as { readonly state?: unknown; readonly active?: unknown };
  if (state.state !== null && state.active !== true) return;
  try {
    // Cancelling drops a query still queued for a connection, and asks the server to stop a running one.
    Promise.resolve(query.cancel()).catch(() => {});
  } catch {
    // Nothing to cancel.
  }
}
