/**
 * @module
 * The Redis driver of the guarded store: encodes each call for its Lua script, sends it through the guard and
 * decodes the reply. It knows what only Redis knows: the batches of decisions, those of peeks and those of
 * refunds, charges and lease releases (each one script run per node or hash slot per event-loop turn), the lean
 * scripts of lone single rate ops, a Cluster's hash slots (and their clocks), and the script's refusal of a call
 * that reached Redis past its deadline.
 *
 * Each decision, peek and refund still goes through the guard on its own (`calls.run`): its time budget, its
 * breaker accounting and the refund of its own late "allowed" reply stay per call; only the round trip is
 * shared. A batch that fails fails each of its calls with the same error.
 *
 * Decisions, peeks and refunds go in separate batches (separate scripts), which leave at the end of the turn in
 * the order their first calls came; so of two calls made in one turn without one awaiting the other, a refund
 * may reach Redis after a decision made after it. Such calls are concurrent (and are on any store with several
 * connections): nothing orders them. A call made after another one settled is never sent before it: its
 * batch leaves in a later turn, on the same connection. In particular a refund (or settle) of a decision is
 * made once the decision's reply came, so it always applies after the decision.
 */

import type { RedisStoreConfig } from "../../config/types.ts";
import { StoreError } from "../../errors.ts";
import { sumBatcherStats, TurnBatcher, type TurnBatcherStats } from "../batching/turn-batcher.ts";
import { foldBlockResults, hasBlock, wireOpCount } from "../block-results.ts";
import type { StoreClock } from "../guard/store-clock.ts";
import type { GuardedCalls, StoreDriver, StoreTimes } from "../guard/store-driver.ts";
import { releaseAsRefund } from "../release-op.ts";
import type { BatchResult, OpResult, StoreOp } from "../store.ts";
import {
  attachClient,
  type IoRedisModule,
  loadIoRedis,
  openConnection,
  type RedisClientLike,
  type RedisConnection,
} from "./client.ts";
import {
  callSize,
  deadlineArg,
  decodeReply,
  decodeTime,
  encodeCall,
  encodeOps,
  joinCalls,
  keyOfOp,
  leanOf,
  pastDeadlineTime,
  type ScriptCall,
  splitBatchReply,
  splitPeekReply,
} from "./codec.ts";
import { hashSlot, leaseKey, limiterPatterns, namesOfKey, stateKey } from "./keys.ts";

/**
 * Most decisions in one batch script run. Redis runs a script to its end before anything else, so a bound
 * keeps one run short while still amortising the round trip; and a turn's calls then leave as two or more
 * runs, so Redis runs the next while this process reads the replies of the first. With one run per turn
 * the client sat idle for half of each round: measured with 64 calls in flight on one hot key (alternating
 * runs, ÷ rate-limiter-flexible), a bound of 32 gave 0.85–1.01×, 16 gave 0.83–1.19×, 128 gave 0.50–0.77×.
 * Batches of refunds take the same bounds, for the same reasons.
 */
const BATCH_MAX_CALLS = 32;

/** Most bytes of keys and arguments in one batch script run. */
const BATCH_MAX_BYTES = 256 * 1024;

/**
 * The `COUNT` hint of each `SCAN` of a clear: names Redis looks at per call (a page has at most about as many),
 * so one call stays short on a large keyspace while a clear of many keys needs few round trips.
 */
const SCAN_COUNT = 1_000;

/** Encodes, sends and decodes the calls of a Redis store. */
export class RedisDriver implements StoreDriver {
  readonly cancels = false;
  readonly #config: RedisStoreConfig;
  readonly #calls: GuardedCalls;
  readonly #importDriver: (() => Promise<IoRedisModule>) | undefined;
  /** The one connection, opened on first use; shared by every limiter and clone on this store. */
  #connection: Promise<RedisConnection> | undefined;
  /** The connection once open, so calls reach it without awaiting {@link #connection}. */
  #ready: RedisConnection | undefined;
  /** True once the store is closing: a late decision is no longer refunded on a connection being closed. */
  #closing = false;
  /** The batcher of decisions of each part of the store (a Cluster: each hash slot; else one, part 0). */
  readonly #batchers = new Map<number, TurnBatcher<ScriptCall, unknown>>();
  /** The batcher of refunds (and charges) of each part of the store, as {@link #batchers}. */
  readonly #refundBatchers = new Map<number, TurnBatcher<ScriptCall, unknown>>();
  /** The batcher of peeks of each part of the store, as {@link #batchers}. */
  readonly #peekBatchers = new Map<number, TurnBatcher<ScriptCall, unknown>>();

  /** A client the application owns and handed over: used as it is, never closed. */
  readonly #client: RedisClientLike | undefined;

  constructor(
    config: RedisStoreConfig,
    calls: GuardedCalls,
    importDriver: (() => Promise<IoRedisModule>) | undefined,
    client?: RedisClientLike,
  ) {
    // A client handed over says itself whether it is a Cluster (its hash slots then shape the batches).
    this.#config = client === undefined ? config : { ...config, cluster: client.isCluster === true };
    this.#calls = calls;
    this.#importDriver = importDriver;
    this.#client = client;
  }

  prepare(): Promise<unknown> {
    return this.#connect();
  }

  decide(ops: readonly StoreOp[], maxWaitMs: number, times: StoreTimes | undefined): Promise<BatchResult> {
    return this.#spansSlots(ops)
      ? this.#decideMemberByMember(ops, maxWaitMs, times)
      : this.#decideInOneScript(ops, maxWaitMs, times);
  }

  /** One guarded call in this turn's peek batch of the op's part (see {@link #sendPeeks}). */
  async peek(op: StoreOp, times: StoreTimes | undefined): Promise<OpResult> {
    const call = encodeOps(this.#prefix, [op], 0, false, true);
    const batcher = this.#peekBatcherOf(this.#partOf(keyOfOp(this.#prefix, op)));
    const reply = await this.#calls.run("peek", () => batcher.submit(call));
    const decoded = this.#decode(reply, wireOpCount([op]), "peek");
    const result = op.block === undefined ? decoded.results[0] : foldBlockResults([op], decoded.results)[0];
    if (result === undefined) throw new StoreError(this.#calls.storeId, "peek returned no result");
    times?.push(decoded.storeNowMs);
    return result;
  }

  /**
   * One refund call per slot the ops touch (one for all of them off a Cluster), each in this turn's refund batch
   * of its slot (see {@link #sendRefunds}).
   */
  async refund(ops: readonly StoreOp[], times: StoreTimes | undefined): Promise<void> {
    await Promise.all(
      Array.from(this.#bySlot(ops), async ([part, group]) => {
        const nowMs = await this.#refundInBatch("refund", part, group);
        times?.push(nowMs);
      }),
    );
  }

  async reset(limiterId: string, key: string): Promise<void> {
    const keys = [stateKey(this.#prefix, limiterId, key), leaseKey(this.#prefix, limiterId, key)];
    await this.#calls.run("reset", () => this.#connected.del(keys));
  }

  /**
   * `SCAN MATCH` over every master for the names of the limiter's keys (see {@link limiterPatterns}), a page at a
   * time, each page's keys removed with one pipeline of `UNLINK`s (both names of a key in one command: they
   * share a slot). Never `KEYS`, never one huge command: each page is one short guarded call, and Redis frees
   * the memory off its main thread. A key counts when its `UNLINK` removed something, so a key a scan returns
   * twice (SCAN may) or whose two names come in different pages is counted once.
   */
  async clear(limiterId: string): Promise<number> {
    const nodes = await this.#calls.run("clear", () => this.#connected.scanNodes());
    let cleared = 0;
    for (const pattern of limiterPatterns(this.#prefix, limiterId)) {
      for (const node of nodes) {
        let cursor = "0";
        do {
          const [next, names] = await this.#calls.run("clear", () => node.scan(cursor, pattern, SCAN_COUNT));
          cursor = next;
          const groups = new Map<string, readonly string[]>();
          for (const name of names) {
            const both = namesOfKey(name);
            if (both !== undefined) groups.set(both[0], both);
          }
          if (groups.size === 0) continue;
          const removed = await this.#calls.run("clear", () => node.unlinkEach([...groups.values()]));
          for (const count of removed) if (count > 0) cleared += 1;
        } while (cursor !== "0");
      }
    }
    return cleared;
  }

  /** Not counted: Redis can count a pattern's keys only by scanning the whole keyspace (see `clear`). */
  keyCount(_limiterId: string): Promise<number | undefined> {
    return Promise.resolve(undefined);
  }

  /** A refund of the lease (see `releaseAsRefund`), in this turn's refund batch of its slot. */
  async release(limiterId: string, key: string, leaseId: string): Promise<void> {
    // An empty id names no lease: there is nothing to end.
    if (leaseId === "") return;
    const part = this.#partOf(leaseKey(this.#prefix, limiterId, key));
    await this.#refundInBatch("release", part, [releaseAsRefund(limiterId, key, leaseId)]);
  }

  async renew(limiterId: string, key: string, leaseId: string, leaseMs: number): Promise<boolean> {
    const lease = leaseKey(this.#prefix, limiterId, key);
    const reply = await this.#calls.run("renew", () => this.#connected.renew(lease, leaseId, leaseMs));
    return Number(reply) === 1;
  }

  async close(): Promise<void> {
    this.#closing = true;
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

  /** Batch counts and sizes of the decisions sent so far, over every part of the store. */
  batchStats(): TurnBatcherStats {
    return sumBatcherStats(Array.from(this.#batchers.values(), (batcher) => batcher.stats()));
  }

  /** Batch counts and sizes of the refunds (and charges) sent so far, over every part of the store. */
  refundBatchStats(): TurnBatcherStats {
    return sumBatcherStats(Array.from(this.#refundBatchers.values(), (batcher) => batcher.stats()));
  }

  /** Batch counts and sizes of the peeks sent so far, over every part of the store. */
  peekBatchStats(): TurnBatcherStats {
    return sumBatcherStats(Array.from(this.#peekBatchers.values(), (batcher) => batcher.stats()));
  }

  get #prefix(): string {
    return this.#config.keyPrefix;
  }

  /** The open connection: `run` sends only after {@link prepare} resolved. */
  get #connected(): RedisConnection {
    const ready = this.#ready;
    if (ready === undefined) throw new StoreError(this.#calls.storeId, "the connection is closed");
    return ready;
  }

  /** True when the ops cannot share one script: a Cluster with keys in different slots. */
  #spansSlots(ops: readonly StoreOp[]): boolean {
    if (!this.#config.cluster || ops.length < 2) return false;
    const slot = hashSlot(keyOfOp(this.#prefix, ops[0] as StoreOp));
    return ops.some((op) => hashSlot(keyOfOp(this.#prefix, op)) !== slot);
  }

  /**
   * The ops by the part of the store that holds them (see {@link #partOf}), each part's in their order: one
   * group of all of them off a Cluster.
   */
  #bySlot(ops: readonly StoreOp[]): Map<number, StoreOp[]> {
    const groups = new Map<number, StoreOp[]>();
    for (const op of ops) {
      const part = this.#partOf(keyOfOp(this.#prefix, op));
      const group = groups.get(part);
      if (group === undefined) groups.set(part, [op]);
      else group.push(op);
    }
    return groups;
  }

  /**
   * The part of the store that holds `key`: its hash slot on a Cluster (a script may touch one slot only, and
   * the nodes' clocks need not agree: one batcher and one clock estimate per slot), else 0.
   */
  #partOf(key: string): number {
    return this.#config.cluster ? hashSlot(key) : 0;
  }

  /** One decide script run for `ops` (which share a slot), decoded. */
  async #decideInOneScript(
    ops: readonly StoreOp[],
    maxWaitMs: number,
    times: StoreTimes | undefined,
  ): Promise<BatchResult> {
    const part = this.#partOf(keyOfOp(this.#prefix, ops[0] as StoreOp));
    const clock = this.#calls.clock(part);
    // The deadline is taken before the budget starts, so the store's is never later than ours.
    const localDeadline = clock.now() + this.#config.timeoutMs;
    let reply = await this.#sendDecide(ops, maxWaitMs, clock, localDeadline, part);
    const refusedAt = pastDeadlineTime(reply);
    if (refusedAt !== undefined && clock.now() < localDeadline) {
      // Refused although our own budget is not spent: the estimate was behind a store clock that stepped
      // forward. The refusal applied nothing and its reply corrected the estimate, so one resend is safe.
      clock.observe(refusedAt, clock.now());
      reply = await this.#sendDecide(ops, maxWaitMs, clock, localDeadline, part);
    }
    return this.#toBatch(reply, ops, times, clock);
  }

  /**
   * Sends one decision for `ops` (which share a slot), with its deadline on the Redis clock, in this turn's batch
   * of its slot; resolves with its own raw reply. An "allowed" reply that arrives after the time budget is
   * refunded.
   */
  #sendDecide(
    ops: readonly StoreOp[],
    maxWaitMs: number,
    clock: StoreClock,
    localDeadline: number,
    part: number,
  ): Promise<unknown> {
    const deadline = deadlineArg(this.#config.timeoutMs > 0 ? clock.deadline(localDeadline) : undefined);
    const call = encodeCall(this.#prefix, ops, maxWaitMs, deadline);
    const batcher = this.#batcherOf(part);
    return this.#calls.run(
      "decide",
      () => batcher.submit(call),
      (reply) => this.#undoLate(ops, reply, clock, part),
    );
  }

  /** The batcher of decisions of one part of the store, made on first use. */
  #batcherOf(part: number): TurnBatcher<ScriptCall, unknown> {
    return batcherIn(this.#batchers, part, (calls) => this.#sendBatch(calls));
  }

  /** The batcher of refunds of one part of the store, made on first use. */
  #refundBatcherOf(part: number): TurnBatcher<ScriptCall, unknown> {
    return batcherIn(this.#refundBatchers, part, (calls) => this.#sendRefunds(calls));
  }

  /** The batcher of peeks of one part of the store, made on first use. */
  #peekBatcherOf(part: number): TurnBatcher<ScriptCall, unknown> {
    return batcherIn(this.#peekBatchers, part, (calls) => this.#sendPeeks(calls));
  }

  /** One guarded call of `ops` (which share `part`) in this turn's refund batch of `part`; its store time. */
  async #refundInBatch(action: string, part: number, ops: readonly StoreOp[]): Promise<number> {
    // Encoded before it joins the batch: an op the script cannot take fails this call, not the batch.
    const call = encodeOps(this.#prefix, ops, 0);
    const batcher = this.#refundBatcherOf(part);
    const reply = await this.#calls.run(action, () => batcher.submit(call));
    return this.#read(() => decodeTime(reply), action);
  }

  /**
   * Sends one batch of refunds (and charges: refunds of a negative cost) of one part as one refund script run:
   * their ops one after the other (see {@link joinRefunds}), so the run applies each refund as if alone, in the
   * order they were made, at one store time. Each refund is answered with that time.
   */
  async #sendRefunds(calls: readonly ScriptCall[]): Promise<readonly unknown[]> {
    const { keys, args } = joinCalls(calls);
    const reply = await this.#connected.refund(keys, args);
    return calls.map(() => reply);
  }

  /**
   * Sends one batch of peeks of one part as one peek script run over all their ops (see {@link joinCalls}): the
   * script reads each op on its own and writes nothing, so each peek gets what it would get alone at the run's
   * store time. Each peek is answered with its own part of the reply.
   */
  async #sendPeeks(calls: readonly ScriptCall[]): Promise<readonly unknown[]> {
    const { keys, args } = joinCalls(calls);
    const reply = await this.#connected.peek(keys, args);
    // Each call's op count is the second value of its header (see encodeOps).
    return splitPeekReply(
      reply,
      calls.map((call) => Number(call.args[1])),
    );
  }

  /**
   * Sends one batch of decisions: one batch script run, or, for a lone call of one rate op, its algorithm's
   * lean script (same state, math and reply, less work in Redis: a lone call pays the whole script run alone).
   */
  async #sendBatch(calls: readonly ScriptCall[]): Promise<readonly unknown[]> {
    const connection = this.#connected;
    const lean = calls.length === 1 ? leanOf(calls[0] as ScriptCall) : undefined;
    if (lean !== undefined) return [await connection.decideOne(lean.kind, lean.key, lean.args)];
    return splitBatchReply(await connection.decideBatch(calls), calls.length);
  }

  /**
   * Decodes a decide reply for `count` ops, recording its store time in `times` when given and in the clock
   * estimate. A reply saying the call reached Redis past its deadline (nothing applied) is a store error.
   */
  #toBatch(
    reply: unknown,
    ops: readonly StoreOp[],
    times: StoreTimes | undefined,
    clock: StoreClock,
  ): BatchResult {
    const late = pastDeadlineTime(reply);
    if (late !== undefined) {
      clock.observe(late, clock.now());
      throw this.#calls.failed(
        new StoreError(
          this.#calls.storeId,
          `decide reached Redis after its ${this.#config.timeoutMs} ms time budget; it was not applied`,
        ),
        "decide",
      );
    }
    const decoded = this.#decode(reply, wireOpCount(ops), "decide");
    clock.observe(decoded.storeNowMs, clock.now());
    times?.push(decoded.storeNowMs);
    // Each block op's reply goes into the op that carries the block.
    const results = hasBlock(ops) ? foldBlockResults(ops, decoded.results) : decoded.results;
    return { allowed: decoded.allAllowed, results };
  }

  /**
   * A decide reply that came after its caller timed out: the caller saw a store error, so whatever the script
   * applied is given back (an unreadable or refused reply applied nothing, or cannot be trusted to have).
   */
  #undoLate(ops: readonly StoreOp[], reply: unknown, clock: StoreClock, part: number): void {
    const late = pastDeadlineTime(reply);
    if (late !== undefined) {
      clock.observe(late, clock.now());
      return;
    }
    let allowed: boolean;
    try {
      const decoded = decodeReply(reply, wireOpCount(ops));
      clock.observe(decoded.storeNowMs, clock.now());
      allowed = decoded.allAllowed;
    } catch {
      return;
    }
    if (!allowed) return;
    // The ops share a slot: one refund in this turn's refund batch of that slot undoes them.
    this.#calls.refundLate(ops, () => {
      if (this.#ready === undefined || this.#closing) return Promise.resolve();
      return this.#refundBatcherOf(part).submit(encodeOps(this.#prefix, ops, 0));
    });
  }

  /**
   * Cluster fallback: decide slot by slot (each run of consecutive members on one slot in one script, all or
   * nothing); when one run denies, refund those that passed and report what the remaining members would have
   * said (peeked, consuming nothing).
   */
  async #decideMemberByMember(
    ops: readonly StoreOp[],
    maxWaitMs: number,
    times: StoreTimes | undefined,
  ): Promise<BatchResult> {
    const results: OpResult[] = [];
    // Ops in a row on one slot (every limit of a key, and the block that covers them) go in one script.
    for (let i = 0; i < ops.length; ) {
      const slot = hashSlot(keyOfOp(this.#prefix, ops[i] as StoreOp));
      let end = i + 1;
      while (end < ops.length && hashSlot(keyOfOp(this.#prefix, ops[end] as StoreOp)) === slot) end++;
      const group = ops.slice(i, end);
      let batch: BatchResult;
      try {
        batch = await this.#decideInOneScript(group, maxWaitMs, times);
      } catch (error) {
        // The call fails as a whole: the members that passed must not stay consumed.
        await this.#refundPassed(ops.slice(0, i)).catch(() => {});
        throw error;
      }
      if (batch.results.length !== group.length)
        throw new StoreError(this.#calls.storeId, "decide returned no result");
      results.push(...batch.results);
      if (!batch.allowed) {
        await this.#refundPassed(ops.slice(0, i));
        for (const other of ops.slice(end)) results.push(await this.peek(other, undefined));
        return { allowed: false, results };
      }
      i = end;
    }
    return { allowed: true, results };
  }

  /** Gives back the members of a Cluster decision that passed before one denied or failed. */
  async #refundPassed(passed: readonly StoreOp[]): Promise<void> {
    if (passed.length === 0) return;
    this.#calls.forget(passed);
    await this.refund(passed, undefined);
  }

  #decode(reply: unknown, count: number, action: string) {
    return this.#read(() => decodeReply(reply, count), action);
  }

  /** Runs a decoder; a malformed reply is a store error, counted like any other. */
  #read<T>(decode: () => T, action: string): T {
    try {
      return decode();
    } catch (error) {
      throw this.#calls.failed(error, action);
    }
  }

  #connect(): Promise<RedisConnection> {
    if (this.#connection === undefined && this.#client !== undefined) {
      // The application's client: ioredis is evidently installed, and the client connects as it was set up to.
      const connection = attachClient(this.#client);
      this.#connection = Promise.resolve(connection);
      this.#ready = connection;
    }
    if (this.#connection === undefined) {
      const opening = loadIoRedis(this.#calls.storeId, this.#importDriver).then((driver) =>
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

/** The batcher of `part` in `batchers`, made on first use with the bounds of a batch script run. */
function batcherIn(
  batchers: Map<number, TurnBatcher<ScriptCall, unknown>>,
  part: number,
  send: (calls: readonly ScriptCall[]) => Promise<readonly unknown[]>,
): TurnBatcher<ScriptCall, unknown> {
  let batcher = batchers.get(part);
  if (batcher === undefined) {
    batcher = new TurnBatcher<ScriptCall, unknown>({
      send,
      maxItems: BATCH_MAX_CALLS,
      maxBytes: BATCH_MAX_BYTES,
      sizeOf: callSize,
    });
    batchers.set(part, batcher);
  }
  return batcher;
}
