/**
 * @module
 * The Redis store: every decision is one Lua script run (one round trip) that reads the store's clock with
 * `TIME`, decides, writes and sets the TTL atomically. Calls go through a circuit breaker and a time budget;
 * floods of denied single-member calls are answered by a local over-limit cache.
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
import { InvalidArgumentError, StoreError } from "../../errors.ts";
import {
  type BreakerState,
  CircuitBreaker,
  type CircuitBreakerOptions,
  OverLimitCache,
  type OverLimitCacheOptions,
  StoreClock,
  toStoreError,
  withTimeout,
} from "../resilience.ts";
import type { BatchResult, OpResult, Store, StoreOp } from "../store.ts";
import { type IoRedisModule, loadIoRedis, openConnection, type RedisConnection } from "./client.ts";
import {
  deadlineArg,
  decodeReply,
  decodeTime,
  encodeLean,
  encodeOps,
  keyOfOp,
  pastDeadlineTime,
} from "./codec.ts";
import { hashSlot, leaseKey, stateKey } from "./keys.ts";

/** Counters of a {@link RedisStore} (see {@link RedisStore.stats}). */
export interface RedisStoreStats {
  /** Calls received (decide, peek, refund, reset, release, renew), including those answered locally. */
  readonly calls: number;
  /** Calls that failed with a store error (timeouts and fast failures of an open breaker included). */
  readonly errors: number;
  /** Decisions answered by the local over-limit cache, without a round trip. */
  readonly cacheHits: number;
  /**
   * Decisions whose "allowed" reply came after the call had timed out, and which were therefore given back
   * (refunded, leases released): their caller saw a store error.
   */
  readonly lateRefunds: number;
  /** The circuit breaker's state now. */
  readonly breaker: BreakerState;
}

/** Tuning of a {@link RedisStore} beyond its config. */
export interface RedisStoreOptions {
  /** Circuit breaker settings. @default { failureThreshold: 5, failureWindowMs: 10_000, coolDownMs: 1_000 } */
  readonly breaker?: CircuitBreakerOptions;
  /** Over-limit cache settings, or `false` to turn the cache off. @default { maxEntries: 10_000 } */
  readonly overLimitCache?: OverLimitCacheOptions | false;
  /**
   * How to import ioredis. For tests that simulate a missing package.
   * @internal
   */
  readonly importDriver?: () => Promise<IoRedisModule>;
}

/** A decision and the store time it was made at (for tests that compare with a reference model). */
export interface TimedBatchResult {
  readonly batch: BatchResult;
  /** The store clock (ms since the epoch) of each script run, in order; empty when answered from the cache. */
  readonly storeNowMs: readonly number[];
}

/**
 * A {@link Store} on Redis or Redis Cluster (ioredis, loaded on first use).
 *
 * @example
 * ```ts
 * const store = new RedisStore({ id: "main", engine: "redis", url: "redis://127.0.0.1:6379", keyPrefix: "rate_sync",
 *   cluster: false, poolMaxSize: 10, timeoutMs: 1000 });
 * const { allowed } = await store.decide([{ limiterId: "api", key: "api", params, cost: 1 }], 0);
 * ```
 */
export class RedisStore implements Store {
  readonly id: string;
  readonly engine = "redis" as const;
  readonly #config: RedisStoreConfig;
  readonly #options: RedisStoreOptions;
  readonly #breaker: CircuitBreaker;
  readonly #cache: OverLimitCache | undefined;
  /** The one connection, opened on first use; shared by every limiter and clone on this store. */
  #connection: Promise<RedisConnection> | undefined;
  /** The connection once open, so calls reach it without awaiting {@link #connection}. */
  #ready: RedisConnection | undefined;
  #closed = false;
  #calls = 0;
  #errors = 0;
  #cacheHits = 0;
  #lateRefunds = 0;
  /** The Redis clock as seen from here (single node; a Cluster has one per hash slot, see {@link #clockOf}). */
  readonly #clock = new StoreClock();
  readonly #slotClocks = new Map<number, StoreClock>();

  constructor(config: RedisStoreConfig, options: RedisStoreOptions = {}) {
    this.id = config.id;
    this.#config = config;
    this.#options = options;
    this.#breaker = new CircuitBreaker(config.id, options.breaker);
    this.#cache = options.overLimitCache === false ? undefined : new OverLimitCache(options.overLimitCache);
  }

  /** Counters and the breaker state. */
  stats(): RedisStoreStats {
    return {
      calls: this.#calls,
      errors: this.#errors,
      cacheHits: this.#cacheHits,
      lateRefunds: this.#lateRefunds,
      breaker: this.#breaker.state,
    };
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

  decide(ops: readonly StoreOp[], maxWaitMs: number): Promise<BatchResult> {
    return this.#decideBatch(ops, maxWaitMs, undefined);
  }

  /**
   * {@link decide}, also reporting the store time of the decision. Used by tests to run the reference model at
   * the very instant the script ran; the store's clock is only ever read, never set.
   * @internal
   */
  async decideTimed(ops: readonly StoreOp[], maxWaitMs: number): Promise<TimedBatchResult> {
    const storeNowMs: number[] = [];
    const batch = await this.#decideBatch(ops, maxWaitMs, storeNowMs);
    return { batch, storeNowMs };
  }

  /** The whole of {@link decide}; pushes the store time of each script run to `times` when given. */
  async #decideBatch(
    ops: readonly StoreOp[],
    maxWaitMs: number,
    times: number[] | undefined,
  ): Promise<BatchResult> {
    if (!(maxWaitMs >= 0)) throw new InvalidArgumentError(`maxWaitMs must be >= 0, got ${maxWaitMs}`);
    validateOps(ops);
    if (ops.length === 0) return { allowed: true, results: [] };
    const cached = this.#cache?.answer(ops, maxWaitMs);
    if (cached !== undefined) {
      this.#calls += 1;
      this.#cacheHits += 1;
      return { allowed: false, results: [cached] };
    }
    const sentAt = this.#cache?.now() ?? 0;
    const batch = this.#spansSlots(ops)
      ? await this.#decideMemberByMember(ops, maxWaitMs, times)
      : await this.#decideInOneScript(ops, maxWaitMs, times);
    this.#cache?.learn(ops, batch.results, sentAt);
    return batch;
  }

  async peek(op: StoreOp): Promise<OpResult> {
    validateOps([op]);
    const { keys, args } = encodeOps(this.#prefix, [op], 0, false);
    const reply = await this.#run("peek", (c) => c.peek(keys, args));
    const result = this.#decode(reply, 1, "peek").results[0];
    if (result === undefined) throw new StoreError(this.id, "peek returned no result");
    return result;
  }

  async refund(ops: readonly StoreOp[]): Promise<void> {
    validateOps(ops);
    if (ops.length === 0) return;
    for (const op of ops) this.#cache?.forget(op.limiterId, op.key);
    const groups = this.#spansSlots(ops) ? ops.map((op) => [op]) : [ops];
    await Promise.all(
      groups.map(async (group) => {
        const { keys, args } = encodeOps(this.#prefix, group, 0);
        const reply = await this.#run("refund", (c) => c.refund(keys, args));
        this.#guard(() => decodeTime(reply), "refund");
      }),
    );
  }

  async reset(limiterId: string, key: string): Promise<void> {
    this.#cache?.forget(limiterId, key);
    const keys = [stateKey(this.#prefix, limiterId, key), leaseKey(this.#prefix, limiterId, key)];
    await this.#run("reset", (c) => c.del(keys));
  }

  async release(limiterId: string, key: string, leaseId: string): Promise<void> {
    this.#cache?.forget(limiterId, key);
    await this.#run("release", (c) => c.zrem(leaseKey(this.#prefix, limiterId, key), leaseId));
  }

  async renew(limiterId: string, key: string, leaseId: string, leaseMs: number): Promise<boolean> {
    if (!(leaseMs > 0) || !Number.isFinite(leaseMs)) {
      throw new InvalidArgumentError(`leaseMs must be a positive finite number, got ${leaseMs}`);
    }
    const reply = await this.#run("renew", (c) =>
      c.renew(leaseKey(this.#prefix, limiterId, key), leaseId, leaseMs),
    );
    return Number(reply) === 1;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#cache?.clear();
    const pending = this.#connection;
    this.#connection = undefined;
    this.#ready = undefined;
    if (pending === undefined) return;
    try {
      await (await pending).close();
    } catch {
      // The connection never opened (missing package): nothing to close.
    }
  }

  get #prefix(): string {
    return this.#config.keyPrefix;
  }

  /** True when the ops cannot share one script: a Cluster with keys in different slots. */
  #spansSlots(ops: readonly StoreOp[]): boolean {
    if (!this.#config.cluster || ops.length < 2) return false;
    const slot = hashSlot(keyOfOp(this.#prefix, ops[0] as StoreOp));
    return ops.some((op) => hashSlot(keyOfOp(this.#prefix, op)) !== slot);
  }

  /** The Redis clock of the node that holds `key` (a Cluster's nodes need not agree: one estimate per slot). */
  #clockOf(key: string): StoreClock {
    if (!this.#config.cluster) return this.#clock;
    const slot = hashSlot(key);
    let clock = this.#slotClocks.get(slot);
    if (clock === undefined) {
      clock = new StoreClock();
      this.#slotClocks.set(slot, clock);
    }
    return clock;
  }

  /** One decide script run for `ops` (which share a slot), decoded. */
  async #decideInOneScript(
    ops: readonly StoreOp[],
    maxWaitMs: number,
    times: number[] | undefined,
  ): Promise<BatchResult> {
    const clock = this.#clockOf(keyOfOp(this.#prefix, ops[0] as StoreOp));
    // The deadline is taken before the budget starts, so the store's is never later than ours.
    const localDeadline = clock.now() + this.#config.timeoutMs;
    let reply = await this.#sendDecide(ops, maxWaitMs, clock, localDeadline);
    const refusedAt = pastDeadlineTime(reply);
    if (refusedAt !== undefined && clock.now() < localDeadline) {
      // Refused although our own budget is not spent: the estimate was behind a store clock that stepped
      // forward. The refusal applied nothing and its reply corrected the estimate, so one resend is safe.
      clock.observe(refusedAt, clock.now());
      reply = await this.#sendDecide(ops, maxWaitMs, clock, localDeadline);
    }
    return this.#toBatch(reply, ops.length, times, clock);
  }

  /**
   * Sends one decide script run for `ops` (which share a slot), with its deadline on the Redis clock; resolves
   * with its raw reply. An "allowed" reply that arrives after the time budget is refunded.
   */
  #sendDecide(
    ops: readonly StoreOp[],
    maxWaitMs: number,
    clock: StoreClock,
    localDeadline: number,
  ): Promise<unknown> {
    const deadline = deadlineArg(this.#config.timeoutMs > 0 ? clock.deadline(localDeadline) : undefined);
    const onLate = (reply: unknown): void => this.#undoLate(ops, reply, clock);
    // The common call, one rate op, goes to its algorithm's lean script (same state, math and reply, less
    // work in Redis); composites and concurrency ops need the general one.
    const lean = ops.length === 1 ? encodeLean(this.#prefix, ops[0] as StoreOp, maxWaitMs) : undefined;
    if (lean !== undefined) {
      lean.args.push(deadline);
      return this.#run("decide", (c) => c.decideOne(lean.kind, lean.key, lean.args), onLate);
    }
    const { keys, args } = encodeOps(this.#prefix, ops, maxWaitMs);
    args.push(deadline);
    return this.#run("decide", (c) => c.decide(keys, args), onLate);
  }

  /**
   * Decodes a decide reply for `count` ops, recording its store time in `times` when given and in the clock
   * estimate. A reply saying the call reached Redis past its deadline (nothing applied) is a store error.
   */
  #toBatch(reply: unknown, count: number, times: number[] | undefined, clock: StoreClock): BatchResult {
    const late = pastDeadlineTime(reply);
    if (late !== undefined) {
      clock.observe(late, clock.now());
      this.#errors += 1;
      throw new StoreError(
        this.id,
        `decide reached Redis after its ${this.#config.timeoutMs} ms time budget; it was not applied`,
      );
    }
    const decoded = this.#decode(reply, count, "decide");
    clock.observe(decoded.storeNowMs, clock.now());
    times?.push(decoded.storeNowMs);
    return { allowed: decoded.allAllowed, results: decoded.results };
  }

  /**
   * A decide reply that came after its caller timed out: the caller saw a store error, so whatever the script
   * applied is given back (an unreadable or refused reply applied nothing, or cannot be trusted to have).
   */
  #undoLate(ops: readonly StoreOp[], reply: unknown, clock: StoreClock): void {
    const late = pastDeadlineTime(reply);
    if (late !== undefined) {
      clock.observe(late, clock.now());
      return;
    }
    let allowed: boolean;
    try {
      const decoded = decodeReply(reply, ops.length);
      clock.observe(decoded.storeNowMs, clock.now());
      allowed = decoded.allAllowed;
    } catch {
      return;
    }
    if (!allowed) return;
    this.#lateRefunds += 1;
    const connection = this.#ready;
    if (connection === undefined) return;
    for (const op of ops) this.#cache?.forget(op.limiterId, op.key);
    // Around the breaker: late replies come exactly when it has just opened, and this refund must not be failed
    // fast. The ops share a slot (one script run). Best effort: if Redis fails again now, leases still expire
    // at their lease time.
    const { keys, args } = encodeOps(this.#prefix, ops, 0);
    withTimeout(connection.refund(keys, args), this.#config.timeoutMs, this.id, "refund").catch(() => {});
  }

  /**
   * Cluster fallback: decide member by member; when one denies, refund those that passed and report what the
   * remaining members would have said (peeked, consuming nothing).
   */
  async #decideMemberByMember(
    ops: readonly StoreOp[],
    maxWaitMs: number,
    times: number[] | undefined,
  ): Promise<BatchResult> {
    const results: OpResult[] = [];
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i] as StoreOp;
      let batch: BatchResult;
      try {
        batch = await this.#decideInOneScript([op], maxWaitMs, times);
      } catch (error) {
        // The call fails as a whole: the members that passed must not stay consumed.
        await this.refund(ops.slice(0, i)).catch(() => {});
        throw error;
      }
      const result = batch.results[0];
      if (result === undefined) throw new StoreError(this.id, "decide returned no result");
      results.push(result);
      if (!result.allowed) {
        const passed = ops.slice(0, i);
        const rest = ops.slice(i + 1);
        await this.refund(passed);
        for (const other of rest) results.push(await this.peek(other));
        return { allowed: false, results };
      }
    }
    return { allowed: true, results };
  }

  #decode(reply: unknown, count: number, action: string) {
    return this.#guard(() => decodeReply(reply, count), action);
  }

  /** Runs a decoder; a malformed reply is a store error, counted like any other. */
  #guard<T>(decode: () => T, action: string): T {
    try {
      return decode();
    } catch (error) {
      this.#errors += 1;
      throw toStoreError(this.id, error, action);
    }
  }

  /**
   * One store call: loads the driver (a missing package rejects with `StoreUnavailableError`, outside the
   * breaker), then goes through the breaker and the time budget. Whatever fails reaches the caller as a
   * `StoreError` with secrets masked.
   */
  #run<T>(
    action: string,
    call: (connection: RedisConnection) => Promise<T>,
    onLate?: (value: T) => void,
  ): Promise<T> {
    this.#calls += 1;
    if (this.#closed) {
      this.#errors += 1;
      return Promise.reject(new StoreError(this.id, `${action} failed: the store is closed`));
    }
    // Once open, the connection is at hand: no async frame or promise hop to get it.
    const ready = this.#ready;
    return ready === undefined
      ? this.#runAfterConnect(action, call, onLate)
      : this.#send(ready, action, call, onLate);
  }

  /** The first calls of a store: wait for the driver and the connection, then send. */
  async #runAfterConnect<T>(
    action: string,
    call: (connection: RedisConnection) => Promise<T>,
    onLate: ((value: T) => void) | undefined,
  ): Promise<T> {
    let connection: RedisConnection;
    try {
      connection = await this.#connect();
    } catch (error) {
      this.#errors += 1;
      throw toStoreError(this.id, error, action);
    }
    return this.#send(connection, action, call, onLate);
  }

  /**
   * Sends through the breaker and the time budget; any failure reaches the caller as a counted `StoreError`.
   * `onLate` receives a reply that arrives after the budget.
   */
  #send<T>(
    connection: RedisConnection,
    action: string,
    call: (connection: RedisConnection) => Promise<T>,
    onLate: ((value: T) => void) | undefined,
  ): Promise<T> {
    return this.#breaker
      .run(() => withTimeout(call(connection), this.#config.timeoutMs, this.id, action, onLate))
      .catch((error: unknown) => {
        this.#errors += 1;
        throw toStoreError(this.id, error, action);
      });
  }

  #connect(): Promise<RedisConnection> {
    if (this.#connection === undefined) {
      const opening = loadIoRedis(this.id, this.#options.importDriver).then((driver) =>
        openConnection(driver, this.#config),
      );
      this.#connection = opening;
      // A missing package stays missing: every call rejects the same way, without re-importing each time.
      opening.then(
        (connection) => {
          if (this.#connection === opening) this.#ready = connection;
        },
        () => {},
      );
    }
    return this.#connection;
  }
}

function validateOps(ops: readonly StoreOp[]): void {
  for (const op of ops) {
    if (!(op.cost > 0) || !Number.isFinite(op.cost)) {
      throw new InvalidArgumentError(`cost must be a positive finite number, got ${op.cost}`);
    }
  }
}
