/**
 * @module
 * The PostgreSQL driver of the guarded store: gathers the decisions of one event-loop turn into one batch
 * statement, its peeks into one `<table>_decide` call in peek mode, and its refunds (and charges) into one
 * `<table>_refund` call (a {@link TurnBatcher} each; see
 * `postgres-store.ts` for which statement a call takes), sends each call through the guard, so its time budget,
 * breaker accounting and late-reply refund stay its own, on the store's pool (`pool.ts`), and decodes the rows.
 * It also sweeps expired rows, and after the breaker opens it has the pool replaced: a black-holed link leaves
 * sockets that look open but never answer.
 *
 * Decisions and refunds go in separate statements, which may run on different connections of the pool: of two
 * calls made in one turn without one awaiting the other, either may apply first (as without batching: nothing
 * orders concurrent calls). A call made after another one settled always applies after it; in particular a
 * refund (or settle) of a decision is made once the decision's rows came back.
 */

import { BLOCK_TAG } from "../../algorithms/block/decide.ts";
import type { PostgresStoreConfig } from "../../config/types.ts";
import { StoreError } from "../../errors.ts";
import { TurnBatcher, type TurnBatcherStats } from "../batching/turn-batcher.ts";
import { blockedResult, foldBlockResults, hasBlock, wireOpCount } from "../block-results.ts";
import { withTimeout } from "../guard/deadline.ts";
import type { GuardedCalls, StoreDriver, StoreTimes } from "../guard/store-driver.ts";
import { releaseAsRefund } from "../release-op.ts";
import type { BatchResult, OpResult, StoreOp } from "../store.ts";
import { DECIDE_BATCH_ARGUMENTS } from "./batch-sql.ts";
import {
  encodeText,
  rowNowMs,
  toBatchArrays,
  toCallArrays,
  toOneOpParams,
  toOpResult,
  wireParams,
} from "./codec.ts";
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
  /** The application's own `sql` to run on (see `PostgresStoreOptions.client`). */
  readonly client?: Sql;
}

/**
 * Most calls in one batch statement. Large: with 64 calls in flight a process then keeps one batch of them in
 * flight, so a hot key's row is locked once per 64 calls; at 32 or 16 the batches queue on that row's lock
 * (bench, hot key at 64 in flight: 3.5–5.5× rate-limiter-flexible at 128, 4.3× at 32, 1.6× at 16).
 */
const BATCH_MAX_CALLS = 128;
/** Most bytes of keys and ids in one batch statement (a rough bound on its parameters' size). */
const BATCH_MAX_BYTES = 256 * 1024;

/** One decision waiting for its turn's batch. */
interface DecideCall {
  readonly ops: readonly StoreOp[];
  readonly maxWaitMs: number;
  /** Aborts when the call's own time budget runs out (then the batch need not carry it). */
  readonly signal: AbortSignal | undefined;
}

/** The rows of one call of a batch, or the error that failed it alone. */
type DecideReply = RowsWithCount | Error;

/** One refund (or charge: a refund of negative costs; or release: a refund of a lease) waiting for its turn's batch. */
interface RefundCall {
  readonly ops: readonly StoreOp[];
  /** Aborts when the call's own time budget runs out (then the batch need not carry it). */
  readonly signal: AbortSignal | undefined;
}

/** The store time of one refund of a batch, or the error that failed it alone. */
type RefundReply = number | Error;

/** One peek waiting for its turn's batch. */
interface PeekCall {
  readonly op: StoreOp;
  /** Aborts when the call's own time budget runs out (then the batch need not carry it). */
  readonly signal: AbortSignal | undefined;
}

/** Keys one statement of a clear deletes at most: each statement stays well inside the store's time budget. */
const CLEAR_BATCH_KEYS = 1_000;

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
  /** Gathers the decisions of one event-loop turn into one statement. */
  readonly #batcher: TurnBatcher<DecideCall, DecideReply>;
  /** Gathers the refunds (and charges) of one event-loop turn into one `<table>_refund` call. */
  readonly #refundBatcher: TurnBatcher<RefundCall, RefundReply>;
  /** Gathers the peeks of one event-loop turn into one `<table>_decide` call in peek mode. */
  readonly #peekBatcher: TurnBatcher<PeekCall, DecideReply>;

  readonly #decideSql: string;
  readonly #decideOneSql: string;
  readonly #decideBatchSql: string;
  readonly #refundSql: string;
  readonly #resetSql: string;
  readonly #clearSql: string;
  readonly #keyCountSql: string;
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
      ...(settings.client === undefined ? {} : { client: settings.client }),
    });
    this.#plainSql = this.#plainStatements(true);
    const t = this.#names.table;
    this.#decideSql = `SELECT * FROM ${this.#names.decideFunction}($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::float8[], $8::text[], $9::float8, $10::boolean)`;
    this.#decideBatchSql = `SELECT * FROM ${this.#names.decideBatchFunction}${batchParameters()}`;
    this.#decideOneSql = `SELECT * FROM ${this.#names.decideOneFunction}($1::text, $2::text, $3::text, $4::text, $5::float8, $6::float8, $7::float8, $8::float8, $9::boolean)`;
    this.#refundSql = `SELECT ${this.#names.refundFunction}($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::float8[], $8::text[]) AS now_ms`;
    // Rows are locked in the decisions' order (tag, then lease) before they go, so a reset never deadlocks with
    // a composite holding two states of the same key, whatever plan the DELETE would otherwise use.
    this.#resetSql = `DELETE FROM ${t} WHERE ctid = ANY (ARRAY(
  SELECT ctid FROM ${t} WHERE limiter_id = $1::text AND key = $2::text ORDER BY tag, lease_id FOR UPDATE
))`;
    // One batch of a clear: the next keys of the limiter after a cursor (the primary key's index, whose first
    // column is limiter_id, finds them in order), their rows locked in the decisions' order (key, tag, lease) so a
    // clear never deadlocks with a decision, then deleted. The cursor moves forward only, so keys written again
    // behind it while the clear runs cannot keep it going. Counted: the keys that held a live row.
    this.#clearSql = `WITH picked AS (
  SELECT DISTINCT key FROM ${t} WHERE limiter_id = $1::text AND key > $2::text ORDER BY key LIMIT $3::int
), gone AS (
  DELETE FROM ${t} WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM ${t} WHERE limiter_id = $1::text AND key IN (SELECT key FROM picked)
    ORDER BY key, tag, lease_id FOR UPDATE
  )) RETURNING key, expires_at
)
SELECT (SELECT count(*) FROM picked)::int AS picked, (SELECT max(key) FROM picked) AS last,
  (SELECT count(DISTINCT key) FROM gone WHERE expires_at > clock_timestamp())::int AS cleared`;
    // By the primary key's index (limiter_id first): the rows of this limiter only, never the whole table.
    this.#keyCountSql = `SELECT count(DISTINCT key)::int AS keys FROM ${t} WHERE limiter_id = $1::text AND expires_at > clock_timestamp()`;
    this.#renewSql = `SELECT ${this.#names.renewFunction}($1::text, $2::text, $3::text, $4::float8) AS renewed`;
    // The index on expires_at finds the batch: `now()` (not `clock_timestamp()`, which is volatile) can be an
    // index condition, so a sweep with nothing to do reads one index page, not the whole index. SKIP LOCKED
    // leaves rows a decision holds (it is rewriting them anyway). The rows picked stay locked until the delete,
    // and FOR UPDATE rechecks a row updated meanwhile (a renewed lease is no longer picked), so the delete
    // itself is a plain TID scan of at most one batch.
    this.#sweepSql = `DELETE FROM ${t} WHERE ctid = ANY (ARRAY(
  SELECT ctid FROM ${t} WHERE expires_at < now() ORDER BY expires_at LIMIT $1::int FOR UPDATE SKIP LOCKED
))`;
    this.#batcher = new TurnBatcher<DecideCall, DecideReply>({
      send: (calls) => this.#sendBatch(calls),
      maxItems: BATCH_MAX_CALLS,
      maxBytes: BATCH_MAX_BYTES,
      sizeOf: callBytes,
    });
    this.#refundBatcher = new TurnBatcher<RefundCall, RefundReply>({
      send: (calls) => this.#sendRefunds(calls),
      maxItems: BATCH_MAX_CALLS,
      maxBytes: BATCH_MAX_BYTES,
      sizeOf: callBytes,
    });
    this.#peekBatcher = new TurnBatcher<PeekCall, DecideReply>({
      send: (calls) => this.#sendPeeks(calls),
      maxItems: BATCH_MAX_CALLS,
      maxBytes: BATCH_MAX_BYTES,
      sizeOf: (call) => callBytes({ ops: [call.op] }),
    });
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

  /** The batch counts and batch-size distribution of decisions so far. */
  batchStats(): TurnBatcherStats {
    return this.#batcher.stats();
  }

  /** The batch counts and batch-size distribution of refunds (and charges) so far. */
  refundBatchStats(): TurnBatcherStats {
    return this.#refundBatcher.stats();
  }

  /** The batch counts and batch-size distribution of peeks so far. */
  peekBatchStats(): TurnBatcherStats {
    return this.#peekBatcher.stats();
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
    // Each call keeps its own time budget, breaker accounting and late-reply refund; only the statement is shared.
    const rows = await this.#calls.run(
      "decide",
      async (signal) => {
        const reply = await this.#batcher.submit({ ops, maxWaitMs, signal });
        if (reply instanceof Error) throw reply;
        return reply;
      },
      (late) => this.#undoLate(ops, late),
    );
    const timed = this.#toTimed(rows, wireOpCount(ops), "decide");
    times?.push(timed.nowMs);
    // Each block op's row goes into the op that carries the block.
    if (!hasBlock(ops)) return timed.batch;
    return { allowed: timed.batch.allowed, results: foldBlockResults(ops, timed.batch.results) };
  }

  /** One guarded call in this turn's peek batch (see {@link #sendPeeks}). */
  async peek(op: StoreOp, times: StoreTimes | undefined): Promise<OpResult> {
    const rows = await this.#calls.run("peek", async (signal) => {
      const reply = await this.#peekBatcher.submit({ op, signal });
      if (reply instanceof Error) throw reply;
      return reply;
    });
    const timed = this.#toTimed(rows, 1, "peek");
    const result = timed.batch.results[0];
    if (result === undefined) throw new StoreError(this.#calls.storeId, "peek returned no row");
    times?.push(timed.nowMs);
    return op.block === undefined ? result : this.#withBlock(op, result);
  }

  /**
   * A peek's result with the key's block, read from its row (`tat` = its end, `used` = the count) on the store's
   * clock: denied, nothing left, the time left as the retry, while the block runs.
   */
  async #withBlock(op: StoreOp, result: OpResult): Promise<OpResult> {
    const text = `SELECT s.tat, s.used, (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now_ms
  FROM ${this.#names.table} AS s
 WHERE s.limiter_id = $1::text AND s.key = $2::text AND s.tag = '${BLOCK_TAG}' AND s.lease_id = ''`;
    const rows = await this.#query("peek", text, [encodeText(op.limiterId), encodeText(op.key)]);
    const row = rows[0] as { tat: number | null; used: number | null; now_ms: number } | undefined;
    if (row?.tat == null) return result;
    const leftMs = row.tat - row.now_ms;
    if (!(leftMs > 0)) return result;
    return blockedResult(result, { started: false, count: row.used ?? 1, leftMs });
  }

  async refund(ops: readonly StoreOp[], times: StoreTimes | undefined): Promise<void> {
    const now = await this.#refundInBatch("refund", ops);
    times?.push(now);
  }

  /** One guarded call of `ops` in this turn's refund batch (see {@link #sendRefunds}); its store time. */
  #refundInBatch(action: string, ops: readonly StoreOp[]): Promise<number> {
    return this.#calls.run(action, async (signal) => {
      const reply = await this.#refundBatcher.submit({ ops, signal });
      if (reply instanceof Error) throw reply;
      return reply;
    });
  }

  async reset(limiterId: string, key: string): Promise<void> {
    await this.#query("reset", this.#resetSql, [encodeText(limiterId), encodeText(key)]);
  }

  /** Deletes the limiter's rows in batches of {@link CLEAR_BATCH_KEYS} keys, one statement each (see the SQL). */
  async clear(limiterId: string): Promise<number> {
    const id = encodeText(limiterId);
    let after = "";
    let cleared = 0;
    for (;;) {
      const rows = await this.#query("clear", this.#clearSql, [id, after, CLEAR_BATCH_KEYS]);
      const row = rows[0] as { picked?: unknown; last?: unknown; cleared?: unknown } | undefined;
      cleared += Number(row?.cleared ?? 0);
      if (Number(row?.picked ?? 0) < CLEAR_BATCH_KEYS || typeof row?.last !== "string") return cleared;
      after = row.last;
    }
  }

  /** Exact, by the primary key's index: the keys of this limiter with a live row. */
  async keyCount(limiterId: string): Promise<number | undefined> {
    const rows = await this.#query("keyCount", this.#keyCountSql, [encodeText(limiterId)]);
    return Number((rows[0] as { keys?: unknown } | undefined)?.keys ?? 0);
  }

  /** A refund of the lease (see `releaseAsRefund`), in this turn's refund batch. */
  async release(limiterId: string, key: string, leaseId: string): Promise<void> {
    // An empty id names no lease: there is nothing to delete.
    if (leaseId === "") return;
    await this.#refundInBatch("release", [releaseAsRefund(limiterId, key, leaseId)]);
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
   * Sends one decision (or peek) alone: one rate op takes its plain-SQL statement (falling back to the lean
   * single-row function when the row is missing) or the lean function, anything else (composites, concurrency)
   * the batch function as a batch of one. All return the same row shape.
   */
  async #decideRows(
    ops: readonly StoreOp[],
    maxWaitMs: number,
    peek: boolean,
    signal: AbortSignal | undefined,
  ): Promise<RowsWithCount> {
    const sql = await this.#pool.get();
    const single = ops.length === 1 ? ops[0] : undefined;
    if (
      this.#lean &&
      single !== undefined &&
      single.params.kind !== "concurrency" &&
      single.block === undefined
    ) {
      const oneParams = [...toOneOpParams(single), maxWaitMs, peek];
      const plain = peek ? undefined : this.#plainSql.get(single.params.kind);
      if (plain === undefined) return this.#execute(sql, this.#decideOneSql, oneParams, signal);
      const [limiter, key, tag, , a, b, cost] = oneParams;
      // The plain statement, then the function only for a missing row.
      const rows = await this.#execute(sql, plain, [limiter, key, tag, a, b, cost, maxWaitMs], signal);
      return rows.length > 0 ? rows : this.#execute(sql, this.#decideOneSql, oneParams, signal);
    }
    // A peek locks nothing: the general function reads. A decision locks like every batch does (the same two
    // statements, the same order), so a lone composite and a batch never wait for each other in a cycle.
    if (peek) return this.#execute(sql, this.#decideSql, [...toBatchArrays(ops), maxWaitMs, peek], signal);
    return this.#execute(sql, this.#decideBatchSql, toCallArrays([{ ops, maxWaitMs }]), signal);
  }

  /**
   * Sends one turn's decisions. A lone call takes the single-call statements (see {@link #decideRows}); several
   * go as one `<table>_decide_batch` call, and each gets its own rows back. Calls whose budget already ran out
   * are left out (their callers saw an error; nothing of theirs may be applied). A batch statement is never
   * cancelled: the other calls in it still want their answers, and the rows of a call that gave up meanwhile
   * arrive late and are given back (`onLate`), as a lone statement's are when it could not be cancelled.
   */
  async #sendBatch(calls: readonly DecideCall[]): Promise<DecideReply[]> {
    const live = calls.filter((call) => call.signal?.aborted !== true);
    const gaveUp = new StoreError(this.#calls.storeId, "cancelled after the time budget");
    if (live.length === 0) return calls.map(() => gaveUp);
    if (live.length === 1) {
      const call = live[0]!;
      const rows = await this.#decideRows(call.ops, call.maxWaitMs, false, call.signal);
      return calls.map((c) => (c === call ? rows : gaveUp));
    }
    const sql = await this.#pool.get();
    const query = sql.unsafe(this.#decideBatchSql, wireParams(toCallArrays(live)) as never[], {
      prepare: true,
    });
    const rows = (await query) as unknown as readonly unknown[];
    let expected = 0;
    for (const call of live) expected += wireOpCount(call.ops);
    if (rows.length !== expected) {
      throw new Error(`the batch function returned ${rows.length} rows for ${expected} members`);
    }
    const replies = new Map<DecideCall, RowsWithCount>();
    let at = 0;
    for (const call of live) {
      const count = wireOpCount(call.ops);
      const slice = rows.slice(at, at + count) as unknown[] & { count: number };
      slice.count = slice.length;
      replies.set(call, slice);
      at += count;
    }
    return calls.map((call) => replies.get(call) ?? gaveUp);
  }

  /**
   * Sends one turn's refunds as one `<table>_refund` call over all their ops, one refund after the other. The
   * function applies each op on its own (reading its row as the ops before it left it) at one clock reading, so
   * the call does exactly what the refunds would do one by one at that instant; its lock pass takes every row
   * of the batch in the order decisions lock, as for one refund (for a released lease, its key's lock row, which
   * every writer of a lease row holds first). A charge inserts its missing row before any op applies; a refund
   * of an earlier call on that row then finds it empty, which gives back nothing, as finding no row does. Every
   * refund is answered with the store time. Refunds whose budget already ran out are left
   * out, as a cancel before sending would; a lone refund can still be cancelled, a batch of several is not (the
   * others want it applied), so a refund that gave up meanwhile may still apply, as it may on Redis.
   */
  async #sendRefunds(calls: readonly RefundCall[]): Promise<RefundReply[]> {
    const live = calls.filter((call) => call.signal?.aborted !== true);
    const gaveUp = new StoreError(this.#calls.storeId, "cancelled after the time budget");
    if (live.length === 0) return calls.map(() => gaveUp);
    const ops = live.length === 1 ? live[0]!.ops : live.flatMap((call) => call.ops);
    const signal = live.length === 1 ? live[0]!.signal : undefined;
    const rows = await this.#execute(await this.#pool.get(), this.#refundSql, toBatchArrays(ops), signal);
    const now = (rows[0] as { now_ms?: unknown } | undefined)?.now_ms;
    const nowMs = typeof now === "number" ? now : Number.NaN;
    const sent = new Set(live);
    return calls.map((call) => (sent.has(call) ? nowMs : gaveUp));
  }

  /**
   * Sends one turn's peeks. A lone peek takes the single-call statements (see {@link #decideRows}); several go as
   * one `<table>_decide` call in peek mode over all their ops, which reads each op on its own (no lock, no
   * write) at one clock reading, so each peek gets the row it would get alone at that instant. Peeks whose
   * budget already ran out are left out.
   */
  async #sendPeeks(calls: readonly PeekCall[]): Promise<DecideReply[]> {
    const live = calls.filter((call) => call.signal?.aborted !== true);
    const gaveUp = new StoreError(this.#calls.storeId, "cancelled after the time budget");
    if (live.length === 0) return calls.map(() => gaveUp);
    if (live.length === 1) {
      const call = live[0]!;
      const rows = await this.#decideRows([call.op], 0, true, call.signal);
      return calls.map((c) => (c === call ? rows : gaveUp));
    }
    const params = [...toBatchArrays(live.map((call) => call.op)), 0, true];
    const rows = await this.#execute(await this.#pool.get(), this.#decideSql, params, undefined);
    if (rows.length !== live.length) {
      throw new Error(`the decide function returned ${rows.length} rows for ${live.length} peeks`);
    }
    const replies = new Map<PeekCall, RowsWithCount>();
    live.forEach((call, i) => {
      const one = [rows[i]] as unknown[] & { count: number };
      one.count = 1;
      replies.set(call, one);
    });
    return calls.map((call) => replies.get(call) ?? gaveUp);
  }

  /**
   * Rows of a decision that came back after its caller timed out: the caller saw a store error, so what the
   * statement applied is given back. (A statement the time budget's cancel stopped applied nothing and sends
   * no rows.)
   */
  #undoLate(ops: readonly StoreOp[], rows: RowsWithCount): void {
    let allowed: boolean;
    try {
      allowed = decodeRows(rows, wireOpCount(ops)).batch.allowed;
    } catch {
      return;
    }
    if (!allowed) return;
    // In this turn's refund batch, like any refund.
    this.#calls.refundLate(ops, () => this.#refundBatcher.submit({ ops, signal: undefined }));
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
    const query = sql.unsafe(text, wireParams(params) as never[], { prepare: true });
    signal?.addEventListener("abort", () => cancelQuietly(query), { once: true });
    const rows = await query;
    return rows as unknown as RowsWithCount;
  }
}

/** The parameter list of `<table>_decide_batch`, cast to its types. */
function batchParameters(): string {
  const types = DECIDE_BATCH_ARGUMENTS.slice(1, -1).split(", ");
  return `(${types.map((type, i) => `$${i + 1}::${type.replace("double precision", "float8")}`).join(", ")})`;
}

/** The bytes a call adds to a batch: its keys and ids, and a few dozen for its numbers. */
function callBytes(call: { readonly ops: readonly StoreOp[] }): number {
  let bytes = 0;
  for (const op of call.ops) bytes += op.limiterId.length + op.key.length + (op.leaseId?.length ?? 0) + 48;
  return bytes;
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
