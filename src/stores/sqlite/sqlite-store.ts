/**
 * @module
 * The SQLite store: limiter state in one table of a database file, shared exactly by every process on one host
 * that opens the same file, kept across restarts, with no server to run. Through `better-sqlite3` (an optional
 * peer dependency, loaded on first use).
 *
 * The math: each decision runs the TypeScript algorithms of `src/algorithms/` (the code the memory store runs,
 * dispatched through the registry) inside one `BEGIN IMMEDIATE` transaction: read the members' rows, decide,
 * write the rows that changed, commit. Chosen over SQL generated from the algorithms (as PostgreSQL has)
 * because SQLite runs in this process anyway: there is no round trip to save by moving the math into the
 * database, the one lock SQLite has (one writer per file) serialises decisions whatever language decides them,
 * and every algorithm, the ones to come included, works on SQLite with no second encoding to keep in step.
 * `IMMEDIATE` takes the write lock before the first read, so two processes never read the same state and then
 * race to write it (a deferred transaction would fail with `SQLITE_BUSY` when it tried to upgrade).
 *
 * The clock: `Date.now()`, read once per transaction, after the lock is taken. Every process on a host reads
 * the same system clock, and a transaction reads it only once the previous writer has committed, so the times
 * the decisions use rise in commit order across all processes: one clock for the host, as the server's clock is
 * for Redis and PostgreSQL. A per-process monotonic clock (what the memory store uses) would not do: each
 * process anchors it to the wall clock when it starts, so after a clock step two processes would disagree
 * for good. (SQLite's own `julianday('now')` reads the same system clock, at a statement's cost.)
 *
 * Synchronous: better-sqlite3 blocks until SQLite answers, so `decideNow` always answers, and
 * `tryAcquireSync` works on this store. A transaction waits for the write lock up to `busy_timeout` (SQLite's
 * busy handler), blocking this process's event loop meanwhile: decisions hold the lock for microseconds, so
 * the wait is short unless something else holds the file. Repeated failures open a circuit breaker, so a
 * file that stays locked fails calls at once instead of blocking each one for `busy_timeout`.
 *
 * Durability: WAL mode with `synchronous = NORMAL`: a commit survives the process being killed at any point
 * (SQLite rolls back an unfinished transaction when the next connection opens the file); a power loss may lose
 * the last commits, which for a rate limiter only forgets some usage. Expired rows are ignored when read and
 * deleted in the background in small batches.
 */

import { BLOCK_TAG } from "../../algorithms/block/decide.ts";
import { releaseLease, renewLease } from "../../algorithms/concurrency/index.ts";
import { decide, refund } from "../../algorithms/index.ts";
import { CONCURRENCY } from "../../algorithms/registry.ts";
import type { ConcurrencyState } from "../../algorithms/types.ts";
import type { SqliteStoreConfig } from "../../config/types.ts";
import { StoreError, StoreUnavailableError } from "../../errors.ts";
import { chargeAsRefund } from "../charge-ops.ts";
import { type BreakerState, CircuitBreaker, type CircuitBreakerOptions } from "../guard/breaker.ts";
import { toStoreError } from "../guard/store-error.ts";
import { validateCosts, validateDecision, validateLeaseMs } from "../guard/validate-ops.ts";
import { decideComposite, outcomeOf, peekBlocked, peekResult, toResult } from "../in-process.ts";
import { encodeText } from "../postgres/codec.ts";
import { type BatchResult, type OpResult, type Store, type StoreOp, stateTag } from "../store.ts";
import { decodeState, encodeState } from "./codec.ts";
import { quoteIdentifier, sqliteDdl } from "./ddl.ts";
import {
  type LoadSqliteDriver,
  loadSqliteDriver,
  requireSqliteDriver,
  type SqliteDatabase,
} from "./driver.ts";

/** Tuning of a {@link SqliteStore} that is not part of the config file. */
export interface SqliteStoreOptions {
  /**
   * The clock, in epoch milliseconds, read once per transaction. Injectable for tests; every process sharing a
   * file must use the same clock.
   * @default Date.now
   */
  readonly now?: () => number;
  /**
   * How often this process deletes expired rows, in ms. Every process sweeps; a sweep is a few bounded
   * deletes. `0` turns the background sweep off.
   * @default 10_000
   */
  readonly sweepIntervalMs?: number;
  /** Rows deleted per sweep statement (a sweep repeats it a few times while full batches come back). @default 1_000 */
  readonly sweepBatchSize?: number;
  /** Circuit breaker tuning. @default `{ failureThreshold: 5, coolDownMs: 1000 }` */
  readonly breaker?: CircuitBreakerOptions;
  /** How better-sqlite3 is loaded (tests replace it to simulate a missing package). @default `require` */
  readonly loadDriver?: LoadSqliteDriver;
}

/** Counters of a {@link SqliteStore}, since it was created. */
export interface SqliteStoreStats {
  /** Calls received (decide, peek, refund, reset, release, renew). */
  readonly calls: number;
  /** Calls that failed with a store error (fast failures of an open breaker included). */
  readonly errors: number;
  /** Expired rows deleted by this process's sweeps. */
  readonly swept: number;
  /** The circuit breaker's state now. */
  readonly breaker: BreakerState;
}

/** A row of the state table, as read. */
interface Row {
  readonly value: string;
  readonly expires_at: number;
}

/** What a decision reads and writes, one state: the op's row, and the state and outcome it leads to. */
interface Member {
  readonly limiterId: string;
  readonly key: string;
  readonly tag: string;
}

/** Keys one transaction of a clear deletes at most, so a clear never holds the write lock for long. */
const CLEAR_BATCH = 1000;

/** Sweep statements per sweep at most, so one sweep never holds the lock for long. */
const SWEEP_ROUNDS = 4;

/** An open database and its prepared statements. */
class Connection {
  readonly #read;
  readonly #upsert;
  readonly #remove;
  readonly #resetKey;
  readonly #sweep;
  readonly #clearBatch;
  readonly #keyCount;
  /** Runs a function inside `BEGIN IMMEDIATE … COMMIT` (rolled back when it throws). */
  readonly immediate: <T>(body: () => T) => T;

  constructor(
    readonly db: SqliteDatabase,
    table: string,
  ) {
    const t = quoteIdentifier(table);
    this.#read = db.prepare<[string, string, string], Row>(
      `SELECT value, expires_at FROM ${t} WHERE limiter_id = ? AND key = ? AND tag = ?`,
    );
    this.#upsert = db.prepare<[string, string, string, string, number]>(
      `INSERT INTO ${t} (limiter_id, key, tag, value, expires_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (limiter_id, key, tag) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
    );
    this.#remove = db.prepare<[string, string, string]>(
      `DELETE FROM ${t} WHERE limiter_id = ? AND key = ? AND tag = ?`,
    );
    this.#resetKey = db.prepare<[string, string]>(`DELETE FROM ${t} WHERE limiter_id = ? AND key = ?`);
    this.#sweep = db.prepare<[number, number]>(
      `DELETE FROM ${t} WHERE (limiter_id, key, tag) IN
       (SELECT limiter_id, key, tag FROM ${t} WHERE expires_at <= ? LIMIT ?)`,
    );
    // One batch of a clear: the rows of up to `limit` keys of a limiter (the primary key's prefix finds them).
    this.#clearBatch = db.prepare<[string, string, number], { key: string; expires_at: number }>(
      `DELETE FROM ${t} WHERE limiter_id = ? AND key IN
       (SELECT DISTINCT key FROM ${t} WHERE limiter_id = ? LIMIT ?) RETURNING key, expires_at`,
    );
    this.#keyCount = db.prepare<[string, number], { n: number }>(
      `SELECT count(DISTINCT key) AS n FROM ${t} WHERE limiter_id = ? AND expires_at > ?`,
    );
    const transaction = db.transaction((body: () => unknown) => body());
    this.immediate = <T>(body: () => T): T => transaction.immediate(body) as T;
  }

  /** The live state of a member, or `undefined` when it has none (or only an expired one). */
  read(member: Member, now: number): unknown {
    const row = this.#read.get(encodeText(member.limiterId), encodeText(member.key), member.tag);
    if (row === undefined || row.expires_at <= now) return undefined;
    return decodeState(row.value);
  }

  /** Stores a state for `ttlMs` from `now`, or deletes the row when nothing is left to constrain. */
  write(member: Member, state: unknown, ttlMs: number, now: number): void {
    const limiterId = encodeText(member.limiterId);
    const key = encodeText(member.key);
    if (state === undefined || !(ttlMs > 0)) {
      this.#remove.run(limiterId, key, member.tag);
      return;
    }
    const expiresAt = now + ttlMs;
    // A state that never expires (none does today) is kept as the largest finite time, which SQLite stores as is.
    this.#upsert.run(
      limiterId,
      key,
      member.tag,
      encodeState(state),
      Number.isFinite(expiresAt) ? expiresAt : Number.MAX_VALUE,
    );
  }

  /** Deletes every state of a key under a limiter (all tags, its leases included). */
  reset(limiterId: string, key: string): void {
    this.#resetKey.run(encodeText(limiterId), encodeText(key));
  }

  /**
   * Deletes every state of up to `limit` keys of a limiter: the keys it took, and how many of them held live
   * state at `now`. No key taken means none is left.
   */
  clearBatch(limiterId: string, limit: number, now: number): { taken: number; live: number } {
    const id = encodeText(limiterId);
    const taken = new Set<string>();
    const live = new Set<string>();
    for (const row of this.#clearBatch.all(id, id, limit)) {
      taken.add(row.key);
      if (row.expires_at > now) live.add(row.key);
    }
    return { taken: taken.size, live: live.size };
  }

  /** How many keys of a limiter hold live state at `now` (by the primary key's prefix). */
  keyCount(limiterId: string, now: number): number {
    return this.#keyCount.get(encodeText(limiterId), now)?.n ?? 0;
  }

  /** Deletes up to `limit` rows expired at `now`; returns how many went. */
  sweep(now: number, limit: number): number {
    return this.#sweep.run(now, limit).changes;
  }
}

function memberOf(op: StoreOp): Member {
  return { limiterId: op.limiterId, key: op.key, tag: stateTag(op.params) };
}

function leaseMember(limiterId: string, key: string): Member {
  return { limiterId, key, tag: CONCURRENCY.code };
}

/**
 * A {@link Store} in a SQLite database file. One connection per store, opened on first use, shared by every
 * limiter on the store; every process that opens the same file shares its limits exactly.
 *
 * @example
 * ```ts
 * const store = new SqliteStore({
 *   id: "local", engine: "sqlite", path: "/var/lib/app/rate-sync.db", tableName: "rate_sync_state",
 *   busyTimeoutMs: 1000,
 * });
 * const params = { kind: "fixed_window", limit: 10, windowMs: 60_000 } as const;
 * const { allowed } = store.decideNow([{ limiterId: "api", key: "k", params, cost: 1 }], 0);
 * await store.close();
 * ```
 */
export class SqliteStore implements Store {
  readonly id: string;
  readonly engine = "sqlite" as const;
  /** The database file, as configured (a relative path is relative to the working directory). */
  readonly path: string;

  readonly #tableName: string;
  readonly #busyTimeoutMs: number;
  readonly #now: () => number;
  readonly #sweepIntervalMs: number;
  readonly #sweepBatchSize: number;
  readonly #loadDriver: LoadSqliteDriver;
  readonly #breaker: CircuitBreaker;
  #connection: Connection | undefined;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  /**
   * The ops of a `decideNow` that just threw, and what it threw, until the end of the current turn. The engine
   * asks `decideNow` first and, when it throws, hands the same ops to `decide` to fail asynchronously: that
   * call rejects with the same error instead of waiting for the lock a second time.
   */
  #failedNow: { readonly ops: readonly StoreOp[]; readonly error: unknown } | undefined;
  #closed = false;
  #calls = 0;
  #errors = 0;
  #swept = 0;

  constructor(config: SqliteStoreConfig, options: SqliteStoreOptions = {}) {
    this.id = config.id;
    this.path = config.path;
    this.#tableName = config.tableName;
    this.#busyTimeoutMs = config.busyTimeoutMs;
    this.#now = options.now ?? Date.now;
    this.#sweepIntervalMs = options.sweepIntervalMs ?? 10_000;
    this.#sweepBatchSize = options.sweepBatchSize ?? 1_000;
    this.#loadDriver = options.loadDriver ?? requireSqliteDriver;
    this.#breaker = new CircuitBreaker(config.id, options.breaker);
  }

  /** Counters and the breaker state. */
  stats(): SqliteStoreStats {
    return { calls: this.#calls, errors: this.#errors, swept: this.#swept, breaker: this.#breaker.state };
  }

  /**
   * Opens the database and creates the table and index if missing, now rather than on the first call. Throws
   * a `StoreError` (or `StoreUnavailableError`) like any call.
   */
  open(): void {
    this.#call("open", () => undefined);
  }

  decide(ops: readonly StoreOp[], maxWaitMs: number): Promise<BatchResult> {
    const failed = this.#failedNow;
    if (failed !== undefined && failed.ops === ops) {
      this.#failedNow = undefined;
      return Promise.reject(failed.error);
    }
    try {
      return Promise.resolve(this.#decide(ops, maxWaitMs));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * {@link decide}, synchronously: SQLite needs no round trip, so this always answers (waiting for the write
   * lock up to `busy_timeout`). Throws what `decide` would reject with.
   */
  decideNow(ops: readonly StoreOp[], maxWaitMs: number): BatchResult {
    try {
      return this.#decide(ops, maxWaitMs);
    } catch (error) {
      this.#failedNow = { ops, error };
      queueMicrotask(() => {
        if (this.#failedNow?.ops === ops) this.#failedNow = undefined;
      });
      throw error;
    }
  }

  peek(op: StoreOp): Promise<OpResult> {
    try {
      validateCosts([op]);
      // One statement reads one row: consistent without a transaction, and it takes no write lock.
      return Promise.resolve(this.#call("peek", (c) => this.#peek(c, op, this.#now())));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  refund(ops: readonly StoreOp[]): Promise<void> {
    try {
      validateCosts(ops);
      return this.#refund(ops);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  charge(ops: readonly StoreOp[]): Promise<void> {
    try {
      return this.#refund(chargeAsRefund(ops));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Applies each op's refund (a charge when its cost is negative) in one write transaction. */
  #refund(ops: readonly StoreOp[]): Promise<void> {
    try {
      if (ops.length === 0) return Promise.resolve();
      this.#call("refund", (c) =>
        c.immediate(() => {
          const now = this.#now();
          for (const op of ops) {
            const member = memberOf(op);
            const state = c.read(member, now);
            if (op.params.kind === "concurrency") {
              if (op.leaseId === undefined) continue;
              const after = releaseLease(state as ConcurrencyState | undefined, now, op.leaseId);
              c.write(member, after.state, after.ttlMs, now);
            } else {
              const after = refund(op.params, state, now, op.cost);
              c.write(member, after.state, after.ttlMs, now);
            }
          }
        }),
      );
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Forgets every key's state under a limiter or template id, in transactions of {@link CLEAR_BATCH} keys (each
   * holds the write lock briefly, so other processes keep deciding meanwhile); resolves with how many keys held
   * live state.
   */
  clear(limiterId: string): Promise<number> {
    try {
      let cleared = 0;
      for (;;) {
        const batch = this.#call("clear", (c) =>
          c.immediate(() => c.clearBatch(limiterId, CLEAR_BATCH, this.#now())),
        );
        cleared += batch.live;
        if (batch.taken === 0) return Promise.resolve(cleared);
      }
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** How many keys hold live state under a limiter or template id: exact, counted by the primary key. */
  keyCount(limiterId: string): Promise<number | undefined> {
    try {
      return Promise.resolve(this.#call("keyCount", (c) => c.keyCount(limiterId, this.#now())));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  reset(limiterId: string, key: string): Promise<void> {
    try {
      this.#call("reset", (c) => c.reset(limiterId, key));
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  release(limiterId: string, key: string, leaseId: string): Promise<void> {
    try {
      this.#call("release", (c) =>
        c.immediate(() => {
          const now = this.#now();
          const member = leaseMember(limiterId, key);
          const leases = c.read(member, now) as ConcurrencyState | undefined;
          // Idempotent: nothing stored (or only expired leases) means nothing to release.
          if (leases === undefined) return;
          const after = releaseLease(leases, now, leaseId);
          c.write(member, after.state, after.ttlMs, now);
        }),
      );
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  renew(limiterId: string, key: string, leaseId: string, leaseMs: number): Promise<boolean> {
    try {
      validateLeaseMs(leaseMs);
      const renewed = this.#call("renew", (c) =>
        c.immediate(() => {
          const now = this.#now();
          const member = leaseMember(limiterId, key);
          const after = renewLease(
            c.read(member, now) as ConcurrencyState | undefined,
            now,
            leaseId,
            leaseMs,
          );
          if (after.renewed) c.write(member, after.state, after.ttlMs, now);
          return after.renewed;
        }),
      );
      return Promise.resolve(renewed);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Deletes rows expired as of now, in batches of `batchSize` (at most a few batches, each its own short
   * transaction), and returns how many went. The background sweep calls this; it is public for operations
   * scripts and tests.
   */
  sweepExpired(batchSize = this.#sweepBatchSize): number {
    return this.#call("sweep", (c) => {
      let deleted = 0;
      for (let round = 0; round < SWEEP_ROUNDS; round++) {
        const changes = c.sweep(this.#now(), batchSize);
        deleted += changes;
        if (changes < batchSize) break;
      }
      this.#swept += deleted;
      return deleted;
    });
  }

  /** Closes the database (every call is synchronous: none is in flight); later calls reject. Idempotent. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    const connection = this.#connection;
    this.#connection = undefined;
    try {
      connection?.db.close();
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(toStoreError(this.id, error, "close"));
    }
  }

  #decide(ops: readonly StoreOp[], maxWaitMs: number): BatchResult {
    validateDecision(ops, maxWaitMs);
    if (ops.length === 0) return { allowed: true, results: [] };
    return this.#call("decide", (c) => c.immediate(() => this.#decideIn(c, ops, maxWaitMs)));
  }

  /** One decision inside its transaction: every member decided first, all applied only if all are allowed. */
  #decideIn(c: Connection, ops: readonly StoreOp[], maxWaitMs: number): BatchResult {
    // Read after BEGIN IMMEDIATE took the lock: see the module comment on the clock.
    const now = this.#now();
    const count = ops.length;
    if (count === 1 && (ops[0] as StoreOp).block === undefined) {
      const op = ops[0] as StoreOp;
      const member = memberOf(op);
      const outcome = outcomeOf(op, c.read(member, now), now, maxWaitMs);
      if (outcome.allowed) c.write(member, outcome.state, outcome.ttlMs, now);
      return { allowed: outcome.allowed, results: [toResult(outcome)] };
    }
    // A composite: all or nothing, an op on an earlier op's state chained to it (as on the memory store).
    return decideComposite<Member>(ops, maxWaitMs, now, {
      refOf: memberOf,
      same: (x, y) => x.tag === y.tag && x.key === y.key && x.limiterId === y.limiterId,
      read: (member) => c.read(member, now),
      write: (member, state, ttlMs) => c.write(member, state, ttlMs, now),
      blockRefOf: (op) => ({ limiterId: op.limiterId, key: op.key, tag: BLOCK_TAG }),
    });
  }

  #peek(c: Connection, op: StoreOp, now: number): OpResult {
    const result = peekResult(op, c.read(memberOf(op), now), now);
    if (op.block === undefined) return result;
    return peekBlocked(result, c.read({ limiterId: op.limiterId, key: op.key, tag: BLOCK_TAG }, now), now);
  }

  /**
   * One call: counted, refused once closed, through the breaker; whatever fails reaches the caller as a
   * counted `StoreError` naming the action. A missing driver package is thrown as it is, outside the breaker
   * (it is not an outage).
   */
  #call<T>(action: string, body: (connection: Connection) => T): T {
    this.#calls += 1;
    if (this.#closed) {
      this.#errors += 1;
      throw new StoreError(this.id, `${action} failed: the store is closed`);
    }
    if (this.#breaker.state === "open") {
      this.#errors += 1;
      throw new StoreError(this.id, "circuit breaker is open after repeated failures; failing fast");
    }
    try {
      const value = body(this.#connection ?? this.#openConnection());
      this.#breaker.recordSuccess();
      return value;
    } catch (error) {
      this.#errors += 1;
      if (error instanceof StoreUnavailableError) throw error;
      this.#breaker.recordFailure();
      throw toStoreError(this.id, error, action);
    }
  }

  /** Loads the driver, opens the file in WAL mode, creates the table if missing, and starts the sweep. */
  #openConnection(): Connection {
    const Database = loadSqliteDriver(this.id, this.#loadDriver);
    let db: SqliteDatabase | undefined;
    try {
      db = new Database(this.path, { timeout: this.#busyTimeoutMs });
      // WAL: readers (peeks) never wait for the writer, and a commit is one append to the log.
      db.pragma("journal_mode = WAL");
      // In WAL mode NORMAL syncs at checkpoints only: a commit survives a killed process, not a power loss.
      db.pragma("synchronous = NORMAL");
      db.exec(sqliteDdl(this.#tableName));
      const connection = new Connection(db, this.#tableName);
      this.#connection = connection;
      this.#startSweeper();
      return connection;
    } catch (error) {
      try {
        db?.close();
      } catch {
        // The open already failed; that failure is the one to report.
      }
      const detail = error instanceof Error ? error.message : String(error);
      throw new StoreError(
        this.id,
        `cannot open the SQLite database ${JSON.stringify(this.path)}: ${detail}`,
        {
          cause: error,
        },
      );
    }
  }

  #startSweeper(): void {
    if (this.#sweepIntervalMs <= 0 || this.#sweeper !== undefined) return;
    this.#sweeper = setInterval(() => {
      // Background work: skipped while the breaker is open, and a failure is only counted.
      if (this.#breaker.state === "open") return;
      try {
        this.sweepExpired();
      } catch {
        // Counted by #call; the next sweep tries again, and expired rows are ignored when read meanwhile.
      }
    }, this.#sweepIntervalMs);
    // Never keeps the process alive on its own.
    this.#sweeper.unref?.();
  }
}
