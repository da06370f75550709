/**
 * @module
 * `RateSync`: one instance holds a config (stores, limiters, templates), resolves keys to limiters, decides,
 * waits, hands out leases, reloads and reports. Most applications need one per process. The reload lifecycle
 * (the running snapshot, file reloads, the watch, limiters configured in code) lives in `src/reload/`, behind
 * the `Reloader` this facade delegates to.
 */

import { allowsFractionalCost } from "../algorithms/registry.ts";
import { MIN_COST } from "../config/bounds.ts";
import { fileIssue } from "../config/issues.ts";
import { describeConfigSearch, parseConfigObject, parseConfigText } from "../config/load.ts";
import { loadConfig } from "../config/load-file.ts";
import type { SlicedLoadStats } from "../config/load-sliced.ts";
import type { ConfigSnapshot, LimiterConfig, LimiterDefinition } from "../config/types.ts";
import { describeValue } from "../config/units.ts";
import { Engine, type EngineOutcome, type Member } from "../decide/engine.ts";
import { assertValidKey } from "../decide/keys.ts";
import { StorePool } from "../decide/store-pool.ts";
import {
  ClosedError,
  ConfigError,
  InvalidArgumentError,
  InvalidKeyError,
  UnknownLimiterError,
} from "../errors.ts";
import { type LimiterEntry, Registry, type ResolvedKey } from "../limiters/registry.ts";
import { createOverrideSource } from "../overrides/create-source.ts";
import { Overrides } from "../overrides/overrides.ts";
import type { DynamicConfig } from "../reload/dynamic-config.ts";
import { Reloader } from "../reload/reloader.ts";
import { epochMonotonicNow } from "../stores/memory/memory-store.ts";
import type { Store } from "../stores/store.ts";
import { type TopKey, TopKeys, type TopKeysSnapshot } from "../top-keys/top-keys.ts";
import { Acquirer, type DecisionFinisher } from "../wait/acquirer.ts";
import { type Listener, TypedEmitter } from "./events.ts";
import { copyCounters, createCounters, type LimiterCounters, type MetricsSnapshot } from "./metrics.ts";
import { Notices } from "./notices.ts";
import { assertRefundUnits, chargeMembers, type RunOptions, refundMembers, unusedUnits } from "./refund.ts";
import { type InternalSettle, withSettle } from "./settle.ts";
import type {
  AcquireOptions,
  ConfigProvider,
  Decision,
  FromFileOptions,
  Lease,
  LimiterState,
  RateSyncEventName,
  RateSyncEvents,
  RateSyncOptions,
  ReloadEvent,
  TryAcquireOptions,
} from "./types.ts";
import { describeUnheard } from "./unheard.ts";

/** One key or several (a composite: all or nothing). */
export type KeyInput = string | readonly string[];

/** A handle bound to one key: the same methods as the instance, without the key argument. */
export interface LimiterHandle {
  readonly key: string;
  tryAcquire(options?: TryAcquireOptions): Promise<Decision>;
  /** `tryAcquire`, answered without a promise; see {@link RateSync.tryAcquireSync}. */
  tryAcquireSync(options?: TryAcquireOptions): Decision;
  acquire(options?: AcquireOptions): Promise<Lease>;
  run<T>(fn: () => T | Promise<T>, options?: RunOptions<T>): Promise<T>;
  peek(): Promise<LimiterState>;
  reset(): Promise<void>;
  /** Gives back units the key consumed; see {@link RateSync.refund}. */
  refund(units: number): Promise<void>;
  /** Consumes units beyond the limit; see {@link RateSync.charge}. */
  charge(units: number): Promise<void>;
}

/** Options of `rs.configure(id, definition, options)`. */
export interface ConfigureOptions {
  /** A live source of the definition (feature flags, a control plane); its changes apply like a reload. */
  readonly provider?: ConfigProvider;
}

/** Package-internal: how the last reload was parsed and sliced (tests read it). Not public API. */
export const reloadStats: unique symbol = Symbol("rate-sync.reloadStats");
/** Package-internal: settles a decision after its work, reporting store failures as events (see `run`). */
export const settleAfterWork: unique symbol = Symbol("rate-sync.settleAfterWork");

/**
 * Declarative rate limiting: limits from a TOML file (or an object), decided by name.
 *
 * @example
 * ```ts
 * const rs = await RateSync.fromFile("rate-sync.toml", { watch: true });
 * const decision = await rs.tryAcquire("api:42");
 * if (!decision.allowed) return tooManyRequests(decision.retryAfterMs);
 *
 * await using slot = await rs.acquire("upload", { timeout: "30s" });
 * ```
 */
export class RateSync {
  readonly #registry: Registry;
  /** Failures reported by an event nobody listens to become notices (one line, rate-limited). */
  readonly #events = new TypedEmitter<RateSyncEvents>((event, payload) => this.#unheard(event, payload));
  readonly #notices: Notices;
  /** Where the search path looked, when `fromFile()` found no file: said by errors of keys that match nothing. */
  #notFound: string | undefined;
  readonly #engine: Engine;
  /** The keys denied most, per limiter (undefined with `topKeys: false`). */
  readonly #topKeys: TopKeys | undefined;
  readonly #acquirer: Acquirer;
  readonly #stores: StorePool;
  /** The store with this id (handed to the refunds and charges of `settle`). */
  readonly #storeOf = (id: string): Store => this.#stores.store(id);
  /** The running snapshot, its reloads and its watch; the limiters' definitions. */
  readonly #reloader: Reloader;
  /** Runtime overrides: the layer above the file, kept in step with the store that holds them. */
  readonly #overrides: Overrides;
  /** The instance's clock (`RateSyncOptions.clock`), epoch milliseconds. */
  readonly #now: () => number;
  #closed: Promise<void> | undefined;

  private constructor(snapshot: ConfigSnapshot, options: RateSyncOptions) {
    this.#notices = new Notices(options);
    this.#registry = new Registry(snapshot.defaults.maxClones);
    const clock = options.clock;
    this.#now = clock === undefined ? epochMonotonicNow : () => clock.now();
    this.#stores = new StorePool(
      options.stores ?? {},
      (id) => this.#snapshot.stores.get(id),
      options.clients,
      clock === undefined ? undefined : this.#now,
    );
    this.#stores.checkClients(snapshot);
    this.#topKeys = options.topKeys === false ? undefined : new TopKeys(options.topKeys);
    this.#engine = new Engine(this.#stores, this.#events, this.#topKeys);
    this.#acquirer = new Acquirer(this.#engine, this.#now);
    // Enters the snapshot's limiters into the registry.
    this.#reloader = new Reloader(snapshot, {
      registry: this.#registry,
      stores: this.#stores,
      events: this.#events,
      env: options.env,
    });
    this.#overrides = new Overrides(
      {
        registry: this.#registry,
        validate: (id, definition) => this.#reloader.definitions.validate(id, definition),
        events: this.#events,
        config: snapshot.overrides,
      },
      createOverrideSource(snapshot),
    );
  }

  /**
   * Runtime overrides of limiters, templates and single keys, shared by every process through the store named
   * in `[overrides]` (in process only without it). They lie above the file: a reload keeps them, removing one
   * falls back to the file.
   * @example
   * ```ts
   * await rs.overrides.set("api:acme", { rate: "500/s" }, { ttl: "2h", reason: "INC-42", by: "alice" });
   * ```
   */
  get overrides(): Overrides {
    return this.#overrides;
  }

  /** The config the running limiters came from (the reloader's: a valid reload replaces it whole). */
  get #snapshot(): ConfigSnapshot {
    return this.#reloader.snapshot;
  }

  /**
   * Loads a TOML file (SPEC search path when `path` is omitted: `RATE_SYNC_CONFIG`, `./rate-sync.toml`,
   * `./config/rate-sync.toml`). With `watch: true`, edits apply at runtime.
   * @throws ConfigError when the file is invalid, or when `path` is given and missing.
   */
  static async fromFile(path?: string, options: FromFileOptions = {}): Promise<RateSync> {
    const loadOptions = options.env === undefined ? {} : { env: options.env };
    const snapshot = await loadConfig(path, loadOptions);
    const rs = new RateSync(snapshot ?? parseConfigObject({}), options);
    // The first decisions already run under the overrides the store holds (or, when it cannot be read, under
    // the file: the sync goes on in the background).
    await rs.#overrides.ready();
    // Started empty because nothing was found: a key that then matches nothing says so, and where it looked.
    if (snapshot === undefined) rs.#notFound = describeConfigSearch(loadOptions);
    if (options.watch) {
      if (!snapshot?.file)
        throw new ConfigError([fileIssue(path ?? "<search path>", "no config file found to watch")]);
      // Awaited: a change written right after `fromFile` resolves must not slip by before the watch is set up.
      await rs.watch(options.debounceMs === undefined ? {} : { debounceMs: options.debounceMs });
    }
    return rs;
  }

  /** Builds an instance from TOML text. @throws ConfigError */
  static fromToml(text: string, options: RateSyncOptions & { file?: string } = {}): RateSync {
    return new RateSync(
      parseConfigText(text, {
        ...(options.env === undefined ? {} : { env: options.env }),
        ...(options.file === undefined ? {} : { file: options.file }),
      }),
      options,
    );
  }

  /** Builds an instance from an object of the TOML file's shape, validated the same way. @throws ConfigError */
  static fromConfig(config: unknown = {}, options: RateSyncOptions = {}): RateSync {
    return new RateSync(parseConfigObject(config), options);
  }

  /** Builds an instance from an already validated snapshot (the CLI and the default instance use it). */
  static fromSnapshot(snapshot: ConfigSnapshot, options: RateSyncOptions = {}): RateSync {
    return new RateSync(snapshot, options);
  }

  /** The config file this instance reads, if any. */
  get file(): string | undefined {
    return this.#snapshot.file;
  }

  /** The config snapshot the limiters were last loaded from (file or object). */
  get snapshot(): ConfigSnapshot {
    return this.#snapshot;
  }

  /** Package-internal: how the last reload was parsed and sliced. */
  [reloadStats](): Readonly<SlicedLoadStats> {
    return this.#reloader.lastReloadStats();
  }

  // ---------------------------------------------------------------------------------------------- decisions

  /**
   * Decides now, never waits. For a composite (`[k1, k2]`) every key must pass, or none is consumed.
   * When the limiter has `max_concurrent`, an allowed decision holds a slot: release `decision.lease`.
   */
  tryAcquire(key: KeyInput, options: TryAcquireOptions = {}): Promise<Decision> {
    // Not `async`: when the engine decides synchronously (an in-process store), the one promise made here is
    // the only one the call costs. Every error still arrives as a rejection, never a throw.
    try {
      this.#assertOpen();
      const members = this.#tryNow(key, options.cost, options.ip);
      if (!Array.isArray(members)) return Promise.resolve(members);
      const settle = options.cost !== undefined;
      const outcome = this.#engine.decide(members, 0);
      if (outcome instanceof Promise) return outcome.then((done) => this.#tryDecision(done, members, settle));
      return Promise.resolve(this.#tryDecision(outcome, members, settle));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * `tryAcquire`, answered now without a promise: the same checks, decision, events, counters, shadow mode and
   * `on_store_error` handling. Every memory store answers; a Redis or PostgreSQL store answers only a denial its
   * over-limit cache already knows (`local_cache`), and a composite only when every member's store answers.
   * Errors are thrown, not returned as a rejected promise.
   * @throws SyncUnavailableError (nothing consumed) when a store cannot answer without I/O: use `tryAcquire`.
   * @example
   * ```ts
   * const decision = rs.tryAcquireSync("api:42");
   * if (!decision.allowed) return tooManyRequests(decision.retryAfterMs);
   * ```
   */
  tryAcquireSync(key: KeyInput, options: TryAcquireOptions = {}): Decision {
    this.#assertOpen();
    const members = this.#tryNow(key, options.cost, options.ip);
    if (!Array.isArray(members)) return members;
    return this.#tryDecision(this.#engine.decideSync(members), members, options.cost !== undefined);
  }

  /**
   * The decision `tryAcquire` hands out: with the lease to release when it took a concurrency slot, and, when
   * the call named its cost (`settle`), its `settle`.
   */
  #tryDecision(outcome: EngineOutcome, members: readonly Member[], settle: boolean): Decision {
    if (!outcome.allowed) return outcome.decision;
    const decision = settle ? withSettle(outcome.decision, members, this.#storeOf) : outcome.decision;
    if (outcome.leaseParts.length === 0) return decision;
    return { ...decision, lease: this.#acquirer.leaseFor(outcome, members, decision) };
  }

  /**
   * Waits until allowed, up to the timeout (option, else the limiter's `timeout`, else forever).
   * Token and leaky buckets reserve their slot at once and sleep; other limits retry at their exact hint.
   * Waiters on one key in one process are served first-in, first-out.
   * @throws RateLimitExceededError at once when the wait would pass the timeout.
   * @throws the signal's reason when aborted; StoreError when the store fails and `on_store_error = "deny"`.
   */
  async acquire(key: KeyInput, options: AcquireOptions = {}): Promise<Lease> {
    this.#assertOpen();
    const started = this.#now();
    const members = this.#members(key, options.cost, options.ip);
    return this.#acquirer.acquire(members, options, started, this.#settler(options.cost !== undefined));
  }

  /** What `acquire` makes its lease's decision with: {@link withSettle} when `settle`, else nothing. */
  #settler(settle: boolean): DecisionFinisher | undefined {
    return settle ? (decision, members) => withSettle(decision, members, this.#storeOf) : undefined;
  }

  /**
   * Acquires, runs `fn`, and releases whatever `fn` does (`acquire` + `release`). With `actualCost`, the units
   * the work really used are read from its result, what the acquired `cost` over-counted is refunded and what
   * it under-counted is charged (see {@link RunOptions.actualCost}).
   */
  async run<T>(key: KeyInput, fn: () => T | Promise<T>, options: RunOptions<T> = {}): Promise<T> {
    this.#assertOpen();
    const started = this.#now();
    const members = this.#members(key, options.cost, options.ip);
    const { actualCost } = options;
    const lease = await this.#acquirer.acquire(
      members,
      options,
      started,
      this.#settler(actualCost !== undefined),
    );
    let result: T;
    try {
      result = await fn();
    } finally {
      await lease.release();
    }
    if (actualCost !== undefined) await this[settleAfterWork](lease.decision, actualCost(result));
    return result;
  }

  /**
   * Package-internal: settles a decision after its work (`run`, `rateLimited`), reporting each member's failed
   * refund or charge as a `storeError` event instead of rejecting (the work is done; its result must not be
   * lost). A decision without `settle` ({@link canSettle}) settles nothing; a bad actual cost still rejects.
   */
  [settleAfterWork](decision: Decision, actualCost: number): Promise<void> {
    const settle = decision.settle as InternalSettle | undefined;
    if (settle === undefined) {
      // Checked even when nothing is settled, so a bad `actualCost` fails the same way on every path.
      unusedUnits(0, actualCost);
      return Promise.resolve();
    }
    return settle(actualCost, (store, limiter, error) =>
      this.#events.emit("storeError", { store, limiter, error }),
    );
  }

  /** The state of a key as of now; consumes nothing. */
  async peek(key: string): Promise<LimiterState> {
    this.#assertOpen();
    // One key only: a composite (an array) would otherwise be read as its first member without a word.
    assertValidKey(key);
    const [member] = this.#members(key, 1);
    const { resolved, config } = member!;
    const limiterId = resolved.entry.id;
    if (member!.list !== undefined) {
      // Decided by a list, as a call would be: the store is not read.
      const allowed = member!.list === "allow";
      return {
        key: resolved.key,
        limiter: limiterId,
        limit: config.policy.quota,
        remaining: allowed ? config.policy.quota : 0,
        resetAfterMs: 0,
        policy: config.policy,
        list: member!.list,
      };
    }
    const store = this.#stores.store(config.store);
    const storeKey = resolved.storeKey(config.hashKeys);
    const parts =
      config.limits ?? (config.rate === undefined ? [] : [{ rate: config.rate, policy: config.policy }]);
    const [concurrency, ...rates] = await Promise.all([
      config.concurrency
        ? store.peek({ limiterId, key: storeKey, params: config.concurrency, cost: 1 })
        : undefined,
      ...parts.map(({ rate }, i) =>
        store.peek({
          limiterId,
          key: storeKey,
          params: rate,
          cost: 1,
          // The block, as in a decision, rides on the first rate limit.
          ...(i === 0 && config.block !== undefined ? { block: config.block } : {}),
        }),
      ),
    ]);
    // The most constraining limit speaks for the key, as in a decision: the one with the least left (a block
    // first).
    const blockedForMs = rates[0]?.block?.leftMs;
    let at = 0;
    for (let i = 1; i < rates.length && blockedForMs === undefined; i++) {
      if (rates[i]!.remaining / rates[i]!.limit < rates[at]!.remaining / rates[at]!.limit) at = i;
    }
    const main = rates[at] ?? concurrency!;
    return {
      key: resolved.key,
      limiter: limiterId,
      limit: main.limit,
      remaining: main.remaining,
      resetAfterMs: main.resetAfterMs,
      policy: parts[at]?.policy ?? config.policy,
      ...(blockedForMs === undefined ? {} : { blockedForMs }),
      ...(concurrency === undefined
        ? {}
        : { concurrency: { held: concurrency.limit - concurrency.remaining, max: concurrency.limit } }),
      ...(config.limits === undefined
        ? {}
        : {
            limits: rates.map((r, i) => ({
              allowed: r.allowed,
              limit: r.limit,
              remaining: r.remaining,
              resetAfterMs: r.resetAfterMs,
              retryAfterMs: r.allowed ? 0 : r.retryAfterMs,
              policy: parts[i]!.policy,
            })),
          }),
    };
  }

  /**
   * Gives back `units` a key consumed, for code that learns the actual cost after the work and has no decision
   * at hand (e.g. an LLM call asked for `cost: 1000` tokens and used 300: `rs.refund(key, 700)`). Applied
   * atomically on the key's store, by the algorithm's own refund: never below an empty state (a fixed window's
   * count stops at 0, a bucket at full), and only to the current window (units counted in a window that has
   * already ended are forgotten anyway). On a limiter with several limits (`limits = [...]`) every limit gets
   * the units back; a composite (an array of keys) refunds each member. A concurrency limit is left alone (a
   * slot is given back by releasing its lease). A key decided by `[lists]` has nothing to give back.
   *
   * @throws InvalidArgumentError when `units` is not a positive finite number; a StoreError when the store
   *   fails (nothing is retried: a lost refund only errs on the safe side, fewer calls admitted).
   * @example
   * ```ts
   * const estimate = 1000;
   * await rs.acquire("llm:tokens", { cost: estimate });
   * const used = await callModel();
   * if (used < estimate) await rs.refund("llm:tokens", estimate - used);
   * ```
   */
  async refund(key: KeyInput, units: number): Promise<void> {
    this.#assertOpen();
    assertRefundUnits(units);
    await refundMembers(this.#members(key, units), units, this.#storeOf);
  }

  /**
   * Consumes `units` of a key whatever its limit, for work whose actual cost turned out above what it acquired
   * (e.g. `cost: 1000` tokens acquired, 1300 used: `rs.charge(key, 300)`). Applied atomically on the key's store
   * and never denied: a token or leaky bucket goes into debt (its theoretical arrival time moves past
   * `now + burst × interval`, so it denies until the debt has drained), a fixed window or sliding window counter
   * counts above its limit (denied until the window moves on). The next denial's `retryAfterMs` covers the debt,
   * and `rs.refund` of the same units takes it back. Every limit of a `limits = [...]` limiter and every member
   * of a composite is charged; concurrency limits and keys decided by `[lists]` are left alone.
   *
   * @throws InvalidArgumentError when `units` is not a positive finite number, or a member's algorithm cannot be
   *   charged (`sliding_window`, whose log holds timestamped entries, and `adaptive`; nothing is charged then);
   *   a StoreError when the store fails.
   * @example
   * ```ts
   * const estimate = 1000;
   * await rs.acquire("llm:tokens", { cost: estimate });
   * const used = await callModel();
   * if (used > estimate) await rs.charge("llm:tokens", used - estimate);
   * ```
   */
  async charge(key: KeyInput, units: number): Promise<void> {
    this.#assertOpen();
    assertRefundUnits(units, "charge");
    await chargeMembers(this.#members(key, units), units, this.#storeOf);
  }

  /** Forgets a key's usage (and its leases): it starts fresh. */
  async reset(key: string): Promise<void> {
    this.#assertOpen();
    // One key only: a composite (an array) would otherwise be read as its first member without a word.
    assertValidKey(key);
    const [member] = this.#members(key, 1);
    const { resolved, config } = member!;
    await this.#stores.store(config.store).reset(resolved.entry.id, resolved.storeKey(config.hashKeys));
  }

  /**
   * Forgets the state of every key of a limiter or template — `clear("api:<userId>")` resets `api:42`, `api:7`
   * and every other key the template limits, rate state and leases alike — on its store, and what this process
   * keeps beside it (denials the over-limit cache remembers, the `on_store_error = "local"` stand-in's state).
   * Waiters in `acquire()` on those keys try again at once. Only that id's keys: an explicit limiter `api:42`
   * (made with `clone` or `configure`) and a template `apix:<id>` keep theirs. Decisions that run while the
   * clear does may keep or write their key's state. To forget one key, use {@link reset}.
   *
   * Removal is in batches on every store (Redis: `SCAN` + `UNLINK` on every master, never `KEYS`; PostgreSQL:
   * a thousand keys per statement, by the primary key's index), so a large clear never blocks the store.
   *
   * @returns how many keys held state (each key once).
   * @throws UnknownLimiterError when no limiter or template has this id; InvalidArgumentError when the id is a
   *   key of another limiter (use `reset`) or its store cannot clear (a custom store without `clear`).
   * @example
   * ```ts
   * const cleared = await rs.clear("api:<userId>"); // every user starts with a full quota
   * ```
   */
  async clear(id: string): Promise<number> {
    this.#assertOpen();
    const entry = this.#limiterById(id, "clear");
    const storeId = entry.config.store;
    const store = this.#stores.store(storeId);
    if (typeof store.clear !== "function") {
      throw new InvalidArgumentError(
        `clear(${JSON.stringify(id)}): store "${storeId}" (${store.engine}) has no clear operation`,
      );
    }
    const cleared = await store.clear(id);
    await this.#stores.clearLocal(storeId, id);
    this.#acquirer.wakeLimiter(id);
    return cleared;
  }

  /**
   * How many keys of a limiter or template hold live state in its store now, where the store counts them
   * cheaply: exactly on memory (a walk of the process's map) and PostgreSQL (by the primary key's index);
   * `undefined` on Redis, which could count them only by scanning its whole keyspace.
   * @throws UnknownLimiterError / InvalidArgumentError as {@link clear} does.
   * @example
   * ```ts
   * const users = await rs.keyCount("api:<userId>"); // e.g. 1204, or undefined on Redis
   * ```
   */
  async keyCount(id: string): Promise<number | undefined> {
    this.#assertOpen();
    const entry = this.#limiterById(id, "keyCount");
    const store = this.#stores.store(entry.config.store);
    return store.keyCount === undefined ? undefined : store.keyCount(id);
  }

  /** The limiter or template with exactly this id; a key of one is refused with the id to use instead. */
  #limiterById(id: string, method: string): LimiterEntry {
    if (typeof id !== "string" || id.length === 0) {
      throw new InvalidArgumentError(
        `${method}: the id must be a non-empty string, got ${describeValue(id)}`,
      );
    }
    const entry = this.#registry.get(id);
    if (entry !== undefined) return entry;
    assertValidKey(id);
    const owner = this.#registry.explain(id);
    if (owner === undefined) throw new UnknownLimiterError(id);
    throw new InvalidArgumentError(
      `${method}(${JSON.stringify(id)}): that is a key of limiter ${JSON.stringify(owner.id)}, not a limiter id; ` +
        `${method}(${JSON.stringify(owner.id)}) covers every key of that limiter` +
        (method === "clear" ? `, reset(${JSON.stringify(id)}) forgets this key only` : ""),
    );
  }

  /** A handle bound to one key. Resolution is checked now (`UnknownLimiterError`). */
  limiter(key: string): LimiterHandle {
    this.#members(key, 1);
    return {
      key,
      tryAcquire: (options) => this.tryAcquire(key, options),
      tryAcquireSync: (options) => this.tryAcquireSync(key, options),
      acquire: (options) => this.acquire(key, options),
      run: (fn, options) => this.run(key, fn, options),
      peek: () => this.peek(key),
      reset: () => this.reset(key),
      refund: (units) => this.refund(key, units),
      charge: (units) => this.charge(key, units),
    };
  }

  // ------------------------------------------------------------------------------------------ configuration

  /** The DynamicConfig behind a limiter or template id. @throws UnknownLimiterError */
  dynamic(id: string): DynamicConfig {
    const entry = this.#registry.get(id);
    if (!entry) throw new UnknownLimiterError(id);
    return entry.dynamic;
  }

  /**
   * Adds or replaces a limiter (or template) in code. With a `provider`, the definition follows the provider's
   * changes (validated like a reload: an invalid one is reported as `reloadError` and ignored).
   * Limiters configured in code survive file reloads.
   * @throws ConfigError when the definition is invalid.
   */
  configure(id: string, definition?: LimiterDefinition, options: ConfigureOptions = {}): DynamicConfig {
    this.#assertOpen();
    const provider = options.provider;
    const initial = provider ? provider.get() : definition;
    if (initial === undefined) {
      throw new InvalidArgumentError(`configure("${id}") needs a definition or a provider`);
    }
    const dynamic = this.#reloader.definitions.configure(id, initial, provider);
    // An override may have been waiting for this limiter, or no longer fit it.
    this.#overrides.recheck();
    return dynamic;
  }

  /**
   * Creates limiter `newId` from `sourceId`'s current definition with `overrides` (an explicit clone, with its
   * own state and its own config from now on). An existing `newId` is refused, as rate-sync (Python) refuses
   * it: a clone silently taking the place of a limiter from the file would change that limiter's limits.
   * @param options.replace - Replace an existing limiter `newId` instead (like `configure`). @default false
   * @throws UnknownLimiterError when the source does not exist; InvalidArgumentError when `newId` exists and
   *   `replace` is not set; ConfigError when the result is invalid.
   * @example
   * rs.clone("api", "api:vip", { burst: 500 });
   * rs.clone("api", "api:vip", { burst: 1000 }, { replace: true }); // replaces the first clone
   */
  clone(
    sourceId: string,
    newId: string,
    overrides: Partial<LimiterDefinition> = {},
    options: { readonly replace?: boolean } = {},
  ): LimiterHandle {
    const source = this.#registry.get(sourceId);
    if (!source) throw new UnknownLimiterError(sourceId);
    if (options.replace !== true && this.#registry.get(newId) !== undefined) {
      throw new InvalidArgumentError(
        `clone(${JSON.stringify(sourceId)}, ${JSON.stringify(newId)}): a limiter ${JSON.stringify(newId)} already exists; pass { replace: true } to replace it`,
      );
    }
    this.configure(newId, { ...source.dynamic.get(), ...overrides });
    return this.limiter(newId);
  }

  /** Removes a limiter or template: its keys answer UnknownLimiterError; leases already held still release. */
  remove(id: string): void {
    this.#registry.delete(id);
    this.#overrides.recheck();
  }

  /** Ids of every limiter and template, in declaration order. */
  limiterIds(): string[] {
    return [...this.#registry.entries()].map((entry) => entry.id);
  }

  /**
   * Which limiter or template a key resolves to, and its effective config (overrides included); undefined when
   * none. `rs.overrides.explain(key)` says which layer each value comes from.
   */
  explain(key: string): LimiterConfig | undefined {
    assertValidKey(key);
    const entry = this.#registry.explain(key);
    if (entry === undefined) return undefined;
    return this.#overrides.layer.active ? this.#overrides.layer.configFor(key, entry) : entry.config;
  }

  /**
   * Re-reads the config file now, with the same rules as the watcher: an invalid file changes nothing and is
   * reported (`reloadError`, and the returned promise rejects with the ConfigError); a valid one is applied in
   * one step (`reload` event, also when nothing changed). Reloads run one at a time, each reading the file
   * when its turn comes. `${ENV}` values are read again (the `env` given at construction, else `process.env`).
   * Limiters from the file return to the file's definition, even after `DynamicConfig.update`.
   *
   * The file is read once, after it has not changed for 20 ms (waiting at most 1 s), and the reload decides on
   * that text: an empty file, a file still changing, or one that declares no limiter while limiters of the file
   * run (unless it says `allow_no_limiters = true`) is refused like an invalid one.
   *
   * @example
   * ```ts
   * process.on("SIGHUP", () => void rs.reload().catch(() => {})); // errors arrive as "reloadError"
   * ```
   */
  async reload(): Promise<ReloadEvent> {
    this.#assertOpen();
    return this.#reloader.reload();
  }

  /**
   * Watches the config file and its directory, reloading on change (debounced). Idempotent.
   * Resolves once the watch is in place: changes written before that may go unseen.
   *
   * A burst of events gives one reload. A file that is missing or empty when the burst ends is taken to be
   * mid-save (delete-and-recreate, a truncating write, a ConfigMap symlink being swapped) and waited for
   * rather than reported; a change that leaves the config the same in effect emits nothing.
   * Use `reload()` to force a re-read (it also re-reads `${ENV}` values).
   *
   * @param options.debounceMs - Quiet time that ends a burst of file events. @default 50
   */
  watch(options: { debounceMs?: number } = {}): Promise<void> {
    this.#assertOpen();
    return this.#reloader.watch(options);
  }

  // ------------------------------------------------------------------------------------- events and metrics

  /** Listens to an event; returns a function that stops listening. */
  on<K extends RateSyncEventName>(event: K, listener: Listener<RateSyncEvents[K]>): () => void {
    return this.#events.on(event, listener);
  }

  /** Stops listening. */
  off<K extends RateSyncEventName>(event: K, listener: Listener<RateSyncEvents[K]>): void {
    this.#events.off(event, listener);
  }

  /** Listens to the next occurrence of an event only. */
  once<K extends RateSyncEventName>(event: K, listener: Listener<RateSyncEvents[K]>): () => void {
    return this.#events.once(event, listener);
  }

  /** A snapshot of the counters, by limiter or template id (never by raw key). */
  metrics(): MetricsSnapshot {
    const limiters: Record<string, LimiterCounters> = Object.create(null);
    for (const entry of this.#registry.entries())
      limiters[entry.id] = entry.hasCounters ? copyCounters(entry.counters) : createCounters();
    return {
      limiters,
      reloads: this.#reloader.reloads,
      reloadErrors: this.#reloader.reloadErrors,
      stores: this.#stores.stats(),
    };
  }

  /**
   * The keys limiter (or template) `limiterId` denied most over the last minutes, highest first, from bounded
   * per-process sketches (see the README, "Heavy hitters"): each denial weighs `exp(-age / minutes)` with the
   * `topKeys.minutes` option (default 5), so a count is about the denials of the last `minutes` minutes.
   * Keys are hashes for a limiter with `hash_keys = true`. Counts are upper bounds: the true decayed count
   * is in `[count - error, count]`.
   * @param n - How many keys at most. @default 10
   * @throws UnknownLimiterError when no limiter or template has this id.
   * @example
   * for (const { key, count } of rs.topKeys("api:<tenant>", 5)) console.log(key, count);
   */
  topKeys(limiterId: string, n = 10): TopKey[] {
    if (this.#registry.get(limiterId) === undefined) throw new UnknownLimiterError(limiterId);
    if (this.#topKeys === undefined) return [];
    try {
      return this.#topKeys.top(limiterId, n);
    } catch (error) {
      if (error instanceof RangeError) throw new InvalidArgumentError(error.message);
      throw error;
    }
  }

  /**
   * Every limiter's top `n` denied keys as JSON, to write where `rate-sync top` reads it (a file, an admin
   * endpoint): the CLI is another process and cannot see this one's memory.
   * @example
   * await writeFile("/var/run/app/top-keys.json", JSON.stringify(rs.topKeysSnapshot(20)));
   */
  topKeysSnapshot(n = 10): TopKeysSnapshot {
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`n must be a whole number ≥ 0, got ${n}`);
    return (
      this.#topKeys?.snapshot(n) ?? {
        version: 1,
        at: new Date().toISOString(),
        minutes: 0,
        counters: 0,
        limiters: {},
      }
    );
  }

  // ------------------------------------------------------------------------------------------------ closing

  /**
   * Stops watching, closes every store (after the calls in flight). Idempotent. Clients handed over in
   * `options.clients` stay open: the application owns them and closes them itself.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    // First, before anything awaits: a reload reading the file now gives up before applying (it sees the
    // instance closed); waiting for it means no file handle or timer of ours outlives `close()`.
    await this.#reloader.close();
    await this.#overrides.close();
    for (const entry of this.#registry.entries()) entry.unsubscribe();
    await this.#stores.close();
    this.#events.clear();
  }

  // ------------------------------------------------------------------------------------------------ private

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError();
  }

  /**
   * A key matched nothing: the error to throw (saying that no config file was found, when that is why), after
   * an `unknownLimiter` event. Anything else `resolve` threw passes through.
   */
  #unknownKey(key: string, error: unknown): unknown {
    if (!(error instanceof UnknownLimiterError)) return error;
    const unknown =
      this.#notFound !== undefined && this.#snapshot.file === undefined
        ? new UnknownLimiterError(key, this.#notFound)
        : error;
    this.#events.emit("unknownLimiter", { key, error: unknown });
    return unknown;
  }

  /** An event nobody listens to: a failure it reports becomes a notice (see {@link describeUnheard}). */
  #unheard<K extends RateSyncEventName>(event: K, payload: RateSyncEvents[K]): void {
    if (this.#notices.quiet) return;
    const notice = describeUnheard(event, payload, {
      file: this.#snapshot.file,
      store: (id) => this.#snapshot.stores.get(id),
      limiter: (id) => this.#registry.get(id)?.config,
    });
    if (notice === undefined) return;
    if (notice.level === "error") this.#notices.error(notice.topic, notice.message);
    else this.#notices.warn(notice.topic, notice.message);
  }

  /**
   * Resolves keys and validates the cost against each limiter (one whole config per member per call), and
   * asks the running snapshot's `[lists]` about each key and the call's address.
   */
  #members(key: KeyInput, cost: number | undefined, ip?: string): Member[] {
    const units = unitsOf(cost);
    checkIp(ip);
    if (!Array.isArray(key)) return [this.#member(key, units, ip)];
    if (key.length === 0) throw new InvalidKeyError("A composite key must list at least one key");
    return key.map((k: unknown) => this.#member(k, units, ip));
  }

  /**
   * One key of a call, checked and resolved, with the call's units (checked by {@link unitsOf}) and its
   * verdict from `[lists]` (the address checked by {@link checkIp}).
   */
  #member(key: unknown, units: number, ip: string | undefined): Member {
    assertValidKey(key);
    let resolved: ResolvedKey;
    try {
      resolved = this.#registry.resolve(key);
    } catch (error) {
      throw this.#unknownKey(key, error);
    }
    // The override layer: one flag check while no override is applied.
    const layer = this.#overrides.layer;
    const config = layer.active ? layer.configFor(key, resolved.entry) : resolved.entry.config;
    if (!Number.isInteger(units) && config.rate !== undefined && !allowsFractionalCost(config.rate)) {
      throw new InvalidArgumentError(
        `cost must be a whole number for limiter "${resolved.entry.id}" (${config.rate.kind}); got ${units}`,
      );
    }
    // The running snapshot's lists: a reload swaps them with the rest, and a call's members are resolved
    // together, synchronously, so every member of a call sees the same lists.
    const list = this.#snapshot.lists?.verdict(resolved.key, ip);
    return list === undefined ? { resolved, config, cost: units } : { resolved, config, cost: units, list };
  }

  /**
   * The one-key fast lane of `tryAcquire` and `tryAcquireSync` (see `Engine.tryDecideNow`): the decision, or,
   * when the call takes the general path, its members (resolved once either way). Throws what `#members` would.
   */
  #tryNow(key: KeyInput, cost: number | undefined, ip: string | undefined): Decision | Member[] {
    if (Array.isArray(key)) return this.#members(key, cost, ip);
    checkIp(ip);
    const member = this.#member(key, unitsOf(cost), ip);
    const decision = this.#engine.tryDecideNow(member);
    if (decision === undefined) return [member];
    // A named cost may be settled after the work: only then does the decision carry `settle`.
    return cost === undefined ? decision : withSettle(decision, [member], this.#storeOf);
  }
}

/** Checks the `ip` option of a call. */
function checkIp(ip: unknown): asserts ip is string | undefined {
  if (ip !== undefined && typeof ip !== "string") {
    throw new InvalidArgumentError(`ip must be a string such as "203.0.113.7", got ${describeValue(ip)}`);
  }
}

/** The units a call costs (`cost`, default 1), checked. */
function unitsOf(cost: number | undefined): number {
  const units = cost ?? 1;
  if (typeof units !== "number" || !Number.isFinite(units) || units <= 0) {
    throw new InvalidArgumentError(`cost must be a positive finite number, got ${describeValue(cost)}`);
  }
  // Smaller costs would underflow PostgreSQL's float8 arithmetic (see bounds.ts).
  if (units < MIN_COST) throw new InvalidArgumentError(`cost must be at least ${MIN_COST}, got ${units}`);
  return units;
}
