/**
 * @module
 * The PostgreSQL driver of the guarded store: encodes each call as one prepared statement (see
 * `postgres-store.ts` for which statement a call takes), sends it through the guard on the store's pool
 * (`pool.ts`), and decodes the rows. It also sweeps expired rows, and after the breaker opens it has the pool
 * replaced: a black-holed link leaves sockets that look open but never answer.
 */

import type { PostgresStoreConfig } from "../../config/types.ts";
import { StoreError } from "../../errors.ts";
import { withTimeout } from "../guard/deadline.ts";
import type { GuardedCalls, StoreDriver, StoreTimes } from "../guard/store-driver.ts";
import type { BatchResult, OpResult, StoreOp } from "../store.ts";
import { encodeText, rowNowMs, toBatchArrays, toOneOpParams, toOpResult } from "./codec.ts";
import type { Sql } from "./driver.ts";
import { type PostgresNames, postgresNames } from "./identifiers.ts";
import { PostgresPool } from "./pool.ts";
import { PLAIN_RATE_KINDS, singleRateStatementSql } from "./rate-sql.ts";
import { ExpirySweeper } from "./sweeper.ts";

/**
 * Which statement a single rate op takes. Both paths give the same answers on the same rows; the tests turn
 * them off to check exactly that (see `tuneDecidePaths`). There is no reason to in production.
 */
export interface DecidePaths {
  /** Decide and peek a single rate op with `<table>_decide_one` rather than the general `<table>_decide`. */
  readonly lean: boolean;
  /** With `lean`, decide a single op on an existing row with its algorithm's plain-SQL statement. */
  readonly plainSql: boolean;
}

/** Settings of a {@link PostgresDriver} beyond the config. */
export interface PostgresDriverSettings {
  readonly applicationName: string;
  readonly cleanupIntervalMs: number;
  readonly cleanupBatchSize: number;
}

/** Encodes, sends and decodes the calls of a PostgreSQL store. */
export class PostgresDriver implements StoreDriver {
  readonly cancels = true;
  readonly #config: PostgresStoreConfig;
  readonly #calls: GuardedCalls;
  readonly #names: PostgresNames;
  /** Whether a single rate op takes the lean function (see {@link DecidePaths}). */
  #lean = true;
  /** The plain-SQL single-op statement of each algorithm that has one (empty when turned off). */
  #plainSql: ReadonlyMap<string, string>;
  readonly #pool: PostgresPool;
  readonly #sweeper: ExpirySweeper;

  readonly #decideSql: string;
  readonly #decideOneSql: string;
  readonly #refundSql: string;
  readonly #resetSql: string;
  readonly #releaseSql: string;
  readonly #renewSql: string;
  readonly #sweepSql: string;

  constructor(config: PostgresStoreConfig, calls: GuardedCalls, settings: PostgresDriverSettings) {
    this.#config = config;
    this.#calls = calls;
    this.#names = postgresNames(config.schemaName, config.tableName);
    this.#pool = new PostgresPool(config, {
      storeId: calls.storeId,
      names: this.#names,
      applicationName: settings.applicationName,
      isClosed: () => calls.closed,
      onReady: () => this.#sweeper.start(),
    });
    this.#plainSql = this.#plainStatements(true);
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
      intervalMs: settings.cleanupIntervalMs,
      batchSize: settings.cleanupBatchSize,
      sweepBatch: (limit) => this.#sweepBatch(limit),
    });
  }

  /** Switches the statements single rate ops take (see {@link DecidePaths}). */
  tune(paths: DecidePaths): void {
    this.#lean = paths.lean;
    this.#plainSql = this.#plainStatements(paths.lean && paths.plainSql);
  }

  prepare(): Promise<unknown> {
    // A missing driver must surface as StoreUnavailableError on every call; the pool is created inside the
    // breaker (an unreachable server is an outage).
    return this.#pool.loadDriver();
  }

  afterFailure(breakerOpen: boolean): void {
    // The breaker just opened (or a probe failed): start over with fresh connections. A black-holed link
    // leaves sockets that look open but never answer, and nothing else would ever replace them.
    if (breakerOpen) this.#pool.drop();
  }

  async decide(
    ops: readonly StoreOp[],
    maxWaitMs: number,
    times: StoreTimes | undefined,
  ): Promise<BatchResult> {
    const rows = await this.#decideRows("decide", ops, maxWaitMs, false, (late) => this.#undoLate(ops, late));
    const timed = this.#toTimed(rows, ops.length, "decide");
    times?.push(timed.nowMs);
    return timed.batch;
  }

  async peek(op: StoreOp, times: StoreTimes | undefined): Promise<OpResult> {
    const rows = await this.#decideRows("peek", [op], 0, true);
    const timed = this.#toTimed(rows, 1, "peek");
    const result = timed.batch.results[0];
    if (result === undefined) throw new StoreError(this.#calls.storeId, "peek returned no row");
    times?.push(timed.nowMs);
    return result;
  }

  async refund(ops: readonly StoreOp[], times: StoreTimes | undefined): Promise<void> {
    const rows = await this.#query("refund", this.#refundSql, toBatchArrays(ops));
    const now = (rows[0] as { now_ms?: unknown } | undefined)?.now_ms;
    times?.push(typeof now === "number" ? now : Number.NaN);
  }

  async reset(limiterId: string, key: string): Promise<void> {
    await this.#query("reset", this.#resetSql, [encodeText(limiterId), encodeText(key)]);
  }

  async release(limiterId: string, key: string, leaseId: string): Promise<void> {
    await this.#query("release", this.#releaseSql, [
      encodeText(limiterId),
      encodeText(key),
      encodeText(leaseId),
    ]);
  }

  async renew(limiterId: string, key: string, leaseId: string, leaseMs: number): Promise<boolean> {
    const rows = await this.#query("renew", this.#renewSql, [
      encodeText(limiterId),
      encodeText(key),
      encodeText(leaseId),
      leaseMs,
    ]);
    return (rows[0] as { renewed?: unknown } | undefined)?.renewed === true;
  }

  /** Deletes expired rows now, in batches of `batchSize` (at most a few batches); how many went. */
  cleanupExpired(batchSize: number): Promise<number> {
    return this.#sweeper.sweepNow(batchSize);
  }

  /** Connects and, with `auto_create`, creates the schema now, as one guarded call. */
  async ensureReady(): Promise<void> {
    await this.#calls.run("connect", () => this.#pool.get());
  }

  async close(): Promise<void> {
    this.#sweeper.stop();
    // Calls in flight finish (or fail) first; then connections close, forcibly after a grace period.
    await this.#pool.close();
  }

  #plainStatements(on: boolean): ReadonlyMap<string, string> {
    return new Map(
      on ? PLAIN_RATE_KINDS.map((kind) => [kind, singleRateStatementSql(this.#names, kind)]) : [],
    );
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
      return this.#calls.run(
        what,
        async (signal) => {
          const sql = await this.#pool.get();
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
      allowed = decodeRows(rows, ops.length).batch.allowed;
    } catch {
      return;
    }
    if (!allowed) return;
    this.#calls.refundLate(ops, () =>
      this.#pool.get().then((sql) => this.#execute(sql, this.#refundSql, toBatchArrays(ops), undefined)),
    );
  }

  /** Decodes a decision's rows; an unreadable reply is a counted store error. */
  #toTimed(rows: readonly unknown[], expected: number, action: string): TimedRows {
    try {
      return decodeRows(rows, expected);
    } catch (error) {
      throw this.#calls.failed(
        error instanceof StoreError
          ? error
          : new StoreError(this.#calls.storeId, error instanceof Error ? error.message : "bad reply", {
              cause: error,
            }),
        action,
      );
    }
  }

  /** One statement as one guarded call. */
  #query(
    what: string,
    text: string,
    params: readonly unknown[],
    onLate?: (rows: RowsWithCount) => void,
  ): Promise<RowsWithCount> {
    return this.#calls.run(
      what,
      async (signal) => this.#execute(await this.#pool.get(), text, params, signal),
      onLate,
    );
  }

  async #sweepBatch(limit: number): Promise<number> {
    if (this.#calls.closed) return 0;
    // The sweep has the same time budget, but stays out of the call counters and the breaker: it is not a
    // caller's call, and a breaker opened by housekeeping would fail callers for nothing.
    const sql = await this.#pool.get();
    const rows = await withTimeout(
      this.#execute(sql, this.#sweepSql, [limit], undefined),
      this.#config.timeoutMs,
      this.#calls.storeId,
      "cleanup",
    );
    return rows.count;
  }

  /** Sends one prepared statement; an aborted signal cancels it (and one aborted before sending skips it). */
  async #execute(
    sql: Sql,
    text: string,
    params: readonly unknown[],
    signal: AbortSignal | undefined,
  ): Promise<RowsWithCount> {
    if (signal?.aborted) throw new StoreError(this.#calls.storeId, "cancelled after the time budget");
    const query = sql.unsafe(text, params as never[], { prepare: true });
    signal?.addEventListener("abort", () => cancelQuietly(query), { once: true });
    const rows = await query;
    return rows as unknown as RowsWithCount;
  }
}

/** Rows as the driver returns them: an array with the affected row count. */
type RowsWithCount = readonly unknown[] & { readonly count: number };

/** A decision's results and the store time it was made with. */
interface TimedRows {
  readonly batch: BatchResult;
  readonly nowMs: number;
}

/** The rows of a decision as its results; throws on a wrong row count or an unreadable row. */
function decodeRows(rows: readonly unknown[], expected: number): TimedRows {
  if (rows.length !== expected) {
    throw new Error(`the decide function returned ${rows.length} rows for ${expected} members`);
  }
  const results = rows.map(toOpResult);
  return { batch: { allowed: results.every((r) => r.allowed), results }, nowMs: rowNowMs(rows[0]) };
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
