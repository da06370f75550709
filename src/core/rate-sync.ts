/**
 * @module
 * `RateSync`: one instance holds a config (stores, limiters, templates), resolves keys to limiters, decides,
 * waits, hands out leases, reloads and reports. Most applications need one per process.
 */

import { stat } from "node:fs/promises";
import {
  loadConfig,
  normalizeLimiterDefinition,
  parseConfigObject,
  parseConfigText,
} from "../config/load.ts";
import type { ConfigSnapshot, LimiterConfig, LimiterDefinition, StoreConfig } from "../config/types.ts";
import { parseDuration } from "../config/units.ts";
import {
  ClosedError,
  ConfigError,
  InvalidArgumentError,
  InvalidKeyError,
  isConfigError,
  RateLimitExceededError,
  StoreError,
  UnknownLimiterError,
} from "../errors.ts";
import { createStore } from "../stores/create-store.ts";
import { MemoryStore } from "../stores/memory/memory-store.ts";
import type { Store } from "../stores/store.ts";
import { bindValidator, DynamicConfig, replaceDefinition } from "./dynamic-config.ts";
import { Engine, type EngineOutcome, type Member } from "./engine.ts";
import { type Listener, TypedEmitter } from "./events.ts";
import { assertValidKey } from "./keys.ts";
import { LeaseHandle } from "./lease.ts";
import { copyCounters, type LimiterCounters, type MetricsSnapshot, recordWait } from "./metrics.ts";
import { LimiterEntry, type LimiterOrigin, Registry } from "./registry.ts";
import { abortReason, sleep } from "./sleep.ts";
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
import { WaitQueues } from "./wait-queues.ts";
import { ConfigWatcher, DEFAULT_DEBOUNCE_MS } from "./watcher.ts";

/** A reservation budget that stands for "no timeout" (about 31 years): finite, so every store can take it. */
const UNBOUNDED_WAIT_MS = 1e12;
/**
 * Concurrency slots freed by another process are not announced, so waiters on a concurrency limit retry at
 * least this often (a release in this process wakes them at once).
 */
const CONCURRENCY_RETRY_MS = 100;

/** One key or several (a composite: all or nothing). */
export type KeyInput = string | readonly string[];

/** A handle bound to one key: the same methods as the instance, without the key argument. */
export interface LimiterHandle {
  readonly key: string;
  tryAcquire(options?: TryAcquireOptions): Promise<Decision>;
  acquire(options?: AcquireOptions): Promise<Lease>;
  run<T>(fn: () => T | Promise<T>, options?: AcquireOptions): Promise<T>;
  peek(): Promise<LimiterState>;
  reset(): Promise<void>;
}

/** Options of `rs.configure(id, definition, options)`. */
export interface ConfigureOptions {
  /** A live source of the definition (feature flags, a control plane); its changes apply like a reload. */
  readonly provider?: ConfigProvider;
}

function jitter(ms: number): number {
  // Up to 10% (at most 50 ms) later, so waiters released by one window edge do not retry in lockstep.
  return ms + Math.random() * Math.min(50, ms * 0.1) + 1;
}

function sameConfig(a: LimiterConfig, b: LimiterConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function sameStore(a: StoreConfig, b: StoreConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function sameEntries<V>(a: ReadonlyMap<string, V>, b: ReadonlyMap<string, V>): boolean {
  return JSON.stringify([...a]) === JSON.stringify([...b]);
}

/** True when two snapshots configure the same things (order included): reloading one over the other is a no-op. */
function sameSnapshot(a: ConfigSnapshot, b: ConfigSnapshot): boolean {
  return (
    JSON.stringify(a.defaults) === JSON.stringify(b.defaults) &&
    sameEntries(a.stores, b.stores) &&
    sameEntries(a.limiters, b.limiters) &&
    sameEntries(a.definitions, b.definitions)
  );
}

/**
 * Whether a file exists and is not empty. A watcher-triggered reload that finds no content is looking at a save
 * in progress (deleted before being re-created, truncated before being written, a dangling ConfigMap link):
 * loading it would report a bogus error, or worse apply an empty config that removes every limiter.
 */
async function hasContent(file: string): Promise<boolean> {
  try {
    return (await stat(file)).size > 0;
  } catch {
    return false;
  }
}

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
  /** The config the running limiters came from; replaced whole by a valid reload. */
  #snapshot: ConfigSnapshot;
  readonly #options: RateSyncOptions;
  readonly #registry: Registry;
  readonly #events = new TypedEmitter<RateSyncEvents>();
  readonly #engine: Engine;
  readonly #waiters = new WaitQueues();
  /** Live store instances by id (created on first use); injected ones come from `options.stores`. */
  readonly #stores = new Map<string, Store>();
  /** In-process stand-ins for `on_store_error = "local"`, by the id of the store they stand in for. */
  readonly #fallbacks = new Map<string, MemoryStore>();
  /** Stores replaced by a reload, closing after their calls in flight. */
  readonly #retiring = new Set<Promise<void>>();
  #watcher: ConfigWatcher | undefined;
  /**
   * The tail of the reload queue (always settled without rejecting). Reloads run one at a time, each reading
   * the file when its turn comes, so when two changes race the last file written is the one that stays.
   */
  #reloadQueue: Promise<unknown> = Promise.resolve();
  /** True while a watcher-triggered reload waits in the queue without having read the file yet. */
  #fileReloadQueued = false;
  #reloads = 0;
  #reloadErrors = 0;
  #closed: Promise<void> | undefined;

  private constructor(snapshot: ConfigSnapshot, options: RateSyncOptions) {
    this.#snapshot = snapshot;
    this.#options = options;
    this.#registry = new Registry(snapshot.defaults.maxClones);
    this.#engine = new Engine(
      { store: (id) => this.#store(id), fallback: (id) => this.#fallback(id) },
      this.#events,
    );
    for (const [id, config] of snapshot.limiters) {
      this.#registry.set(this.#createEntry(id, snapshot.definitions.get(id)!, config, "file"));
    }
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
    if (options.watch) {
      if (!snapshot?.file)
        throw new ConfigError([
          { file: path ?? "<search path>", path: "", message: "no config file found to watch" },
        ]);
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

  // ---------------------------------------------------------------------------------------------- decisions

  /**
   * Decides now, never waits. For a composite (`[k1, k2]`) every key must pass, or none is consumed.
   * When the limiter has `max_concurrent`, an allowed decision holds a slot: release `decision.lease`.
   */
  async tryAcquire(key: KeyInput, options: TryAcquireOptions = {}): Promise<Decision> {
    this.#assertOpen();
    const members = this.#members(key, options.cost);
    const outcome = await this.#engine.decide(members, 0);
    if (!outcome.allowed || outcome.leaseParts.length === 0) return outcome.decision;
    const queueKey = this.#queueKey(members);
    const lease = new LeaseHandle(outcome.decision, 0, outcome.leaseParts, () =>
      this.#waiters.wake(queueKey),
    );
    return { ...outcome.decision, lease };
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
    const started = performance.now();
    const members = this.#members(key, options.cost);
    const timeoutMs = this.#timeoutOf(members, options.timeout);
    const deadline = timeoutMs === null ? Number.POSITIVE_INFINITY : started + timeoutMs;
    const { signal } = options;
    if (signal?.aborted) throw abortReason(signal);
    const queueKey = this.#queueKey(members);

    let retryAfterMs: number | undefined;
    if (!this.#waiters.has(queueKey)) {
      // Nobody is waiting on this key here: ask at once (the common case costs no queueing).
      const first = await this.#attempt(members, queueKey, deadline, started, signal, false);
      if (first instanceof LeaseHandle) return first;
      retryAfterMs = first;
    }
    const waiter = await this.#waiters.enter(queueKey, signal);
    try {
      for (;;) {
        if (retryAfterMs !== undefined) {
          await waiter.sleeper.sleep(
            Math.min(jitter(retryAfterMs), Math.max(0, deadline - performance.now())),
            signal,
          );
        }
        // Reaching here means this call waited: behind other waiters, or for its retry hint.
        const attempt = await this.#attempt(members, queueKey, deadline, started, signal, true);
        if (attempt instanceof LeaseHandle) return attempt;
        retryAfterMs = attempt;
      }
    } finally {
      this.#waiters.leave(queueKey, waiter);
    }
  }

  /** Acquires, runs `fn`, and releases whatever `fn` does (`acquire` + `release`). */
  async run<T>(key: KeyInput, fn: () => T | Promise<T>, options: AcquireOptions = {}): Promise<T> {
    const lease = await this.acquire(key, options);
    try {
      return await fn();
    } finally {
      await lease.release();
    }
  }

  /** The state of a key as of now; consumes nothing. */
  async peek(key: string): Promise<LimiterState> {
    this.#assertOpen();
    const [member] = this.#members(key, 1);
    const { resolved, config } = member!;
    const store = this.#store(config.store);
    const limiterId = resolved.entry.id;
    const storeKey = resolved.storeKey(config.hashKeys);
    const [rate, concurrency] = await Promise.all([
      config.rate ? store.peek({ limiterId, key: storeKey, params: config.rate, cost: 1 }) : undefined,
      config.concurrency
        ? store.peek({ limiterId, key: storeKey, params: config.concurrency, cost: 1 })
        : undefined,
    ]);
    const main = rate ?? concurrency!;
    return {
      key: resolved.key,
      limiter: limiterId,
      limit: main.limit,
      remaining: main.remaining,
      resetAfterMs: main.resetAfterMs,
      policy: config.policy,
      ...(concurrency === undefined
        ? {}
        : { concurrency: { held: concurrency.limit - concurrency.remaining, max: concurrency.limit } }),
    };
  }

  /** Forgets a key's usage (and its leases): it starts fresh. */
  async reset(key: string): Promise<void> {
    this.#assertOpen();
    const [member] = this.#members(key, 1);
    const { resolved, config } = member!;
    await this.#store(config.store).reset(resolved.entry.id, resolved.storeKey(config.hashKeys));
  }

  /** A handle bound to one key. Resolution is checked now (`UnknownLimiterError`). */
  limiter(key: string): LimiterHandle {
    this.#members(key, 1);
    return {
      key,
      tryAcquire: (options) => this.tryAcquire(key, options),
      acquire: (options) => this.acquire(key, options),
      run: (fn, options) => this.run(key, fn, options),
      peek: () => this.peek(key),
      reset: () => this.reset(key),
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
    const config = this.#validate(id, initial);
    const entry = this.#createEntry(id, initial, config, "code", provider);
    this.#registry.set(entry);
    return entry.dynamic;
  }

  /**
   * Creates limiter `newId` from `sourceId`'s current definition with `overrides` (an explicit clone, with its
   * own state and its own config from now on).
   * @throws UnknownLimiterError when the source does not exist; ConfigError when the result is invalid.
   */
  clone(sourceId: string, newId: string, overrides: Partial<LimiterDefinition> = {}): LimiterHandle {
    const source = this.#registry.get(sourceId);
    if (!source) throw new UnknownLimiterError(sourceId);
    this.configure(newId, { ...source.dynamic.get(), ...overrides });
    return this.limiter(newId);
  }

  /** Removes a limiter or template: its keys answer UnknownLimiterError; leases already held still release. */
  remove(id: string): void {
    this.#registry.delete(id);
  }

  /** Ids of every limiter and template, in declaration order. */
  limiterIds(): string[] {
    return [...this.#registry.entries()].map((entry) => entry.id);
  }

  /** Which limiter or template a key resolves to, and its effective config; undefined when none. */
  explain(key: string): LimiterConfig | undefined {
    assertValidKey(key);
    return this.#registry.explain(key)?.config;
  }

  /**
   * Re-reads the config file now, with the same rules as the watcher: an invalid file changes nothing and is
   * reported (`reloadError`, and the returned promise rejects with the ConfigError); a valid one is applied in
   * one step (`reload` event, also when nothing changed). Reloads run one at a time, each reading the file
   * when its turn comes. `${ENV}` values are read again (the `env` given at construction, else `process.env`).
   * Limiters from the file return to the file's definition, even after `DynamicConfig.update`.
   *
   * @example
   * ```ts
   * process.on("SIGHUP", () => void rs.reload().catch(() => {})); // errors arrive as "reloadError"
   * ```
   */
  async reload(): Promise<ReloadEvent> {
    this.#assertOpen();
    const file = this.#snapshot.file;
    if (!file) throw new InvalidArgumentError("reload() needs an instance loaded from a file");
    const event = await this.#enqueueReload(() => this.#reloadNow(file, false));
    // An explicit reload always applies (and reports) what it read, so `undefined` cannot come back here.
    return event ?? { added: [], removed: [], changed: [] };
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
    if (this.#watcher) return this.#watcher.ready;
    const file = this.#snapshot.file;
    if (!file) throw new InvalidArgumentError("watch() needs an instance loaded from a file");
    const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    if (!Number.isFinite(debounceMs) || debounceMs < 0) {
      throw new InvalidArgumentError(`debounceMs must be a non-negative number, got ${String(debounceMs)}`);
    }
    this.#watcher = new ConfigWatcher(file, debounceMs, () => this.#onFileChange(file));
    return this.#watcher.ready;
  }

  /** A burst of file events ended: queue one reload unless one is already queued and has not read yet. */
  #onFileChange(file: string): void {
    if (this.#fileReloadQueued || this.#closed) return;
    this.#fileReloadQueued = true;
    this.#enqueueReload(() => {
      // From here on, a new change must queue another reload: this one may read the file before it lands.
      this.#fileReloadQueued = false;
      return this.#reloadNow(file, true);
    }).catch(() => {
      // Reported through `reloadError` (or the instance closed meanwhile); the watcher has nobody to throw to.
    });
  }

  /** Runs `task` after every reload queued before it (one reload at a time). */
  #enqueueReload<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#reloadQueue.then(task);
    this.#reloadQueue = run.catch(() => {});
    return run;
  }

  /**
   * One reload: the whole pipeline of SPEC §2.1, then one swap. `fromWatcher` makes it quiet about a file that
   * is not there yet and about a change that changes nothing; an explicit reload reports both.
   * @returns what changed, or undefined when a watcher-triggered reload found nothing to do.
   */
  async #reloadNow(file: string, fromWatcher: boolean): Promise<ReloadEvent | undefined> {
    if (this.#closed) throw new ClosedError();
    if (fromWatcher && !(await hasContent(file))) return undefined;
    let snapshot: ConfigSnapshot;
    let codeConfigs: Map<string, LimiterConfig>;
    try {
      // `${ENV}` is re-read now: the env given at construction, else `process.env` as it is at this moment.
      const loaded = await loadConfig(
        file,
        this.#options.env === undefined ? {} : { env: this.#options.env },
      );
      if (loaded === undefined) {
        throw new ConfigError([{ file, path: "", message: `the config file ${file} does not exist` }]);
      }
      snapshot = loaded;
      // Limiters configured in code live on in the new file's context (its stores and defaults): one that no
      // longer validates there (its store was removed) makes the whole reload invalid, not half-applied.
      codeConfigs = this.#revalidateCodeLimiters(snapshot);
    } catch (error) {
      if (this.#closed) throw new ClosedError();
      this.#reloadErrors++;
      const configError = isConfigError(error)
        ? error
        : new ConfigError(
            [{ file, path: "", message: error instanceof Error ? error.message : String(error) }],
            {
              cause: error,
            },
          );
      this.#events.emit("reloadError", configError);
      throw configError;
    }
    if (this.#closed) throw new ClosedError();
    if (fromWatcher && sameSnapshot(this.#snapshot, snapshot)) return undefined;
    const event = this.#apply(snapshot, codeConfigs);
    this.#reloads++;
    this.#events.emit("reload", event);
    return event;
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
    for (const entry of this.#registry.entries()) limiters[entry.id] = copyCounters(entry.counters);
    const stores: Record<string, Record<string, unknown>> = Object.create(null);
    for (const [id, store] of this.#stores) {
      const stats = (store as { stats?: () => Record<string, unknown> }).stats;
      stores[id] = { engine: store.engine, ...(typeof stats === "function" ? stats.call(store) : {}) };
    }
    return { limiters, reloads: this.#reloads, reloadErrors: this.#reloadErrors, stores };
  }

  // ------------------------------------------------------------------------------------------------ closing

  /** Stops watching, closes every store (after the calls in flight). Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    await this.#watcher?.close();
    this.#watcher = undefined;
    // A reload reading the file now gives up before applying (it sees the instance closed); waiting for it
    // means no file handle or timer of ours outlives `close()`.
    await this.#reloadQueue;
    for (const entry of this.#registry.entries()) entry.unsubscribe();
    const closing = [...this.#stores.values(), ...this.#fallbacks.values()].map((store) => store.close());
    await Promise.allSettled([...closing, ...this.#retiring]);
    this.#events.clear();
  }

  // ------------------------------------------------------------------------------------------------ private

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError();
  }

  /** Resolves keys and validates the cost against each limiter (one whole config per member per call). */
  #members(key: KeyInput, cost: number | undefined): Member[] {
    const keys: readonly unknown[] = Array.isArray(key) ? key : [key];
    if (keys.length === 0) throw new InvalidKeyError("A composite key must list at least one key");
    const units = cost ?? 1;
    if (typeof units !== "number" || !Number.isFinite(units) || units <= 0) {
      throw new InvalidArgumentError(`cost must be a positive finite number, got ${String(cost)}`);
    }
    const members: Member[] = [];
    for (const k of keys) {
      assertValidKey(k);
      const resolved = this.#registry.resolve(k);
      const config = resolved.entry.config;
      if (!Number.isInteger(units) && config.rate !== undefined && config.rate.kind !== "token_bucket") {
        throw new InvalidArgumentError(
          `cost must be a whole number for limiter "${resolved.entry.id}" (${config.rate.kind}); got ${units}`,
        );
      }
      members.push({ resolved, config, cost: units });
    }
    return members;
  }

  /** The timeout of a call in ms (`null`: none): the option, else the tightest limiter timeout. */
  #timeoutOf(members: readonly Member[], option: AcquireOptions["timeout"]): number | null {
    if (option === null) return null;
    if (option !== undefined) {
      try {
        return parseDuration(option);
      } catch (error) {
        throw new InvalidArgumentError(`timeout: ${(error as Error).message}`);
      }
    }
    let timeout: number | null = null;
    for (const { config } of members) {
      if (config.timeoutMs !== null && (timeout === null || config.timeoutMs < timeout))
        timeout = config.timeoutMs;
    }
    return timeout;
  }

  /**
   * One try of `acquire`: a lease when allowed (after sleeping through a reservation), else the retry hint.
   * Rejects at once when the hint passes the deadline.
   */
  async #attempt(
    members: readonly Member[],
    queueKey: string,
    deadline: number,
    started: number,
    signal: AbortSignal | undefined,
    waitedBefore: boolean,
  ): Promise<LeaseHandle | number> {
    const budget = deadline - performance.now();
    const maxWait = budget <= 0 ? 0 : Math.min(budget, UNBOUNDED_WAIT_MS);
    // Provisional: a denied try is not a denied call, since the call may wait and try again. It is counted
    // below only when the call gives up.
    const outcome = await this.#engine.decide(members, maxWait, { provisional: true });
    if (outcome.allowed) return this.#grant(outcome, members, queueKey, started, signal, waitedBefore);
    if (outcome.storeError) {
      this.#engine.countDenied(members, outcome.decision);
      throw outcome.storeError;
    }
    const { decision } = outcome;
    const remainingMs = deadline - performance.now();
    // A concurrency slot's hint is the earliest lease expiry, but a release usually comes sooner: such waits go on
    // until the deadline itself. Every other hint is exact, so a wait past the deadline is refused at once.
    const hopeless = outcome.retryIsHint
      ? remainingMs <= 0 || !Number.isFinite(decision.retryAfterMs)
      : decision.retryAfterMs > remainingMs || !Number.isFinite(decision.retryAfterMs);
    if (hopeless) {
      this.#entryOf(members, decision.limiter).counters.timeouts++;
      this.#engine.countDenied(members, decision);
      throw new RateLimitExceededError(decision.key, decision.limiter, decision.retryAfterMs);
    }
    return outcome.retryIsHint
      ? Math.min(decision.retryAfterMs, CONCURRENCY_RETRY_MS)
      : decision.retryAfterMs;
  }

  /** Turns an allowed outcome into a lease, sleeping through a reservation first. */
  async #grant(
    outcome: EngineOutcome,
    members: readonly Member[],
    queueKey: string,
    started: number,
    signal: AbortSignal | undefined,
    waitedBefore: boolean,
  ): Promise<LeaseHandle> {
    if (outcome.waitMs > 0) {
      try {
        await sleep(outcome.waitMs, signal);
      } catch (error) {
        // Aborted while holding a reservation: give the slot back so nobody else waits for it.
        await Promise.all(outcome.grants.map((grant) => this.#engine.refund(grant)));
        throw error;
      }
    }
    const waitedMs = performance.now() - started;
    // Only calls that actually waited count as waits (a store round trip is not a wait).
    if (waitedBefore || outcome.waitMs > 0) {
      recordWait(this.#entryOf(members, outcome.decision.limiter).counters, waitedMs);
    }
    return new LeaseHandle(outcome.decision, waitedMs, outcome.leaseParts, () =>
      this.#waiters.wake(queueKey),
    );
  }

  #entryOf(members: readonly Member[], limiterId: string): LimiterEntry {
    return (members.find((m) => m.resolved.entry.id === limiterId) ?? members[0]!).resolved.entry;
  }

  /** Waiters queue per key (per key set for a composite); a release wakes that queue's head. */
  #queueKey(members: readonly Member[]): string {
    return members.length === 1 ? members[0]!.resolved.key : members.map((m) => m.resolved.key).join("\0");
  }

  #store(id: string): Store {
    let store = this.#stores.get(id);
    if (store) return store;
    store = this.#options.stores?.[id];
    if (!store) {
      const config = this.#snapshot.stores.get(id);
      if (!config) throw new StoreError(id, "no store with this id is configured");
      store = createStore(config);
    }
    this.#stores.set(id, store);
    return store;
  }

  #fallback(id: string): MemoryStore {
    let fallback = this.#fallbacks.get(id);
    if (!fallback) {
      fallback = new MemoryStore({ id: `${id}:local` });
      this.#fallbacks.set(id, fallback);
    }
    return fallback;
  }

  /** Validates one definition in this instance's context (its stores and defaults). */
  #validate(id: string, definition: LimiterDefinition, snapshot = this.#snapshot): LimiterConfig {
    const stores = new Map(snapshot.stores);
    for (const injected of Object.keys(this.#options.stores ?? {})) {
      if (!stores.has(injected)) stores.set(injected, { id: injected, engine: "memory", maxKeys: 1 });
    }
    return normalizeLimiterDefinition(id, definition, {
      defaults: snapshot.defaults,
      stores,
      ...(snapshot.file === undefined ? {} : { file: snapshot.file }),
    });
  }

  #createEntry(
    id: string,
    definition: LimiterDefinition,
    config: LimiterConfig,
    origin: LimiterOrigin,
    provider?: ConfigProvider,
  ): LimiterEntry {
    const dynamic = new DynamicConfig(definition);
    dynamic[bindValidator]((next) => this.#validate(id, next));
    const unsubscribes: (() => void)[] = [];
    const entry = new LimiterEntry(id, config, dynamic, origin, () => {
      for (const unsubscribe of unsubscribes) unsubscribe();
    });
    // Every change of the definition (update, reload, provider) re-derives the config the next call reads.
    unsubscribes.push(
      dynamic.subscribe((next) => {
        entry.config = this.#validate(id, next);
      }),
    );
    if (provider) {
      unsubscribes.push(
        provider.subscribe((next) => {
          try {
            this.#validate(id, next);
          } catch (error) {
            this.#reloadErrors++;
            if (isConfigError(error)) this.#events.emit("reloadError", error);
            return;
          }
          dynamic[replaceDefinition](next);
        }),
      );
    }
    return entry;
  }

  /**
   * The configs of the limiters configured in code, re-derived in `snapshot`'s context (its stores and
   * defaults). @throws ConfigError when one of them is invalid there.
   */
  #revalidateCodeLimiters(snapshot: ConfigSnapshot): Map<string, LimiterConfig> {
    const configs = new Map<string, LimiterConfig>();
    for (const entry of this.#registry.entries()) {
      if (entry.origin === "code")
        configs.set(entry.id, this.#validate(entry.id, entry.dynamic.get(), snapshot));
    }
    return configs;
  }

  /**
   * Applies a validated snapshot in one step and says what changed. Everything is decided first and then
   * swapped with plain assignments (nothing here awaits or can fail halfway), so a call starting at any moment
   * resolves against either the whole old config or the whole new one. Listeners of DynamicConfigs hear about
   * the change only after the swap.
   */
  #apply(snapshot: ConfigSnapshot, codeConfigs: ReadonlyMap<string, LimiterConfig>): ReloadEvent {
    const previous = this.#snapshot;
    const added: string[] = [];
    const removed: string[] = [];
    const changed: string[] = [];
    const notify: [LimiterEntry, LimiterDefinition][] = [];
    const reconfigure: [LimiterEntry, LimiterConfig][] = [];
    const create: LimiterEntry[] = [];

    for (const entry of this.#registry.entries()) {
      if (entry.origin === "file" && !snapshot.limiters.has(entry.id)) removed.push(entry.id);
      const codeConfig = codeConfigs.get(entry.id);
      if (entry.origin === "code" && codeConfig && !sameConfig(entry.config, codeConfig)) {
        // Its definition is unchanged, but the file's defaults or stores it inherits did change.
        reconfigure.push([entry, codeConfig]);
        changed.push(entry.id);
      }
    }
    for (const [id, config] of snapshot.limiters) {
      const definition = snapshot.definitions.get(id);
      if (definition === undefined) continue; // the loader pairs every limiter with its definition
      const entry = this.#registry.get(id);
      if (!entry) {
        create.push(this.#createEntry(id, definition, config, "file"));
        added.push(id);
        continue;
      }
      // A limiter configured in code under the same id wins over the file (it survives reloads).
      if (entry.origin !== "file") continue;
      const configChanged = !sameConfig(entry.config, config);
      if (configChanged) {
        reconfigure.push([entry, config]);
        changed.push(id);
      }
      // A definition written differently to the same effect (`rate_per_second = 10` for `rate = "10/s"`) is
      // taken too, so `dynamic(id).get()` shows the file, but it is not listed as changed: nothing runs differently.
      if (configChanged) notify.push([entry, definition]);
      else if (JSON.stringify(entry.dynamic.get()) !== JSON.stringify(definition)) {
        notify.push([entry, definition]);
      }
    }

    // Changes are named in declaration order, whichever loop found them.
    const order = new Map([...this.#registry.entries()].map((entry, index) => [entry.id, index]));
    changed.sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));

    // ---- the swap: from here to the end of the loops, only assignments.
    this.#snapshot = snapshot;
    this.#registry.setMaxClones(snapshot.defaults.maxClones);
    for (const id of removed) this.#registry.delete(id);
    for (const entry of create) this.#registry.set(entry);
    // In place: clones keep their handles and read the new parameters on their next call; the usage so far
    // stays in the store under the same state tag unless the algorithm or window changed (`stateTag`).
    for (const [entry, config] of reconfigure) entry.config = config;
    this.#retireChangedStores(previous, snapshot);

    // ---- after the swap: tell DynamicConfig listeners (a throwing listener can no longer leave a mix behind).
    for (const [entry, definition] of notify) {
      try {
        entry.dynamic[replaceDefinition](definition);
      } catch (error) {
        process.emitWarning(error instanceof Error ? error : new Error(String(error)), {
          code: "RATE_SYNC_LISTENER_ERROR",
          detail: `A DynamicConfig listener of "${entry.id}" threw during a reload`,
        });
      }
      // The snapshot's config is the one the file validated; whatever a listener did, it is what runs.
      const config = snapshot.limiters.get(entry.id);
      if (config) entry.config = config;
    }
    return { added, removed, changed };
  }

  /**
   * Stores whose config changed get a new instance (a new connection, created on first use); the old one
   * closes after its calls in flight. A memory store is kept as long as it stays a memory store: it has no
   * connection to renew, and replacing it would silently forget the usage of every limiter on it.
   */
  #retireChangedStores(previous: ConfigSnapshot, snapshot: ConfigSnapshot): void {
    for (const [id, store] of this.#stores) {
      if (this.#options.stores?.[id]) continue;
      const before = previous.stores.get(id);
      const after = snapshot.stores.get(id);
      if (after && before && sameStore(before, after)) continue;
      if (after?.engine === "memory" && before?.engine === "memory") continue;
      this.#stores.delete(id);
      const closing = store.close().catch(() => {});
      this.#retiring.add(closing);
      void closing.then(() => this.#retiring.delete(closing));
    }
  }
}
