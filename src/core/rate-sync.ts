/**
 * @module
 * `RateSync`: one instance holds a config (stores, limiters, templates), resolves keys to limiters, decides,
 * waits, hands out leases, reloads and reports. Most applications need one per process.
 */

import { MAX_TIMER_MS, MIN_COST } from "../config/bounds.ts";
import {
  describeConfigSearch,
  loadConfig,
  MAX_CONFIG_BYTES,
  normalizeLimiterDefinition,
  parseConfigObject,
  parseConfigText,
  tooLargeIssue,
} from "../config/load.ts";
import { parseConfigFileTextInSlices, type SlicedLoadStats } from "../config/load-sliced.ts";
import { runInSlices, runSync, STEP_SIZE, type Steps } from "../config/steps.ts";
import type { ConfigSnapshot, LimiterConfig, LimiterDefinition } from "../config/types.ts";
import { describeValue } from "../config/units.ts";
import {
  ClosedError,
  ConfigError,
  InvalidArgumentError,
  InvalidKeyError,
  isConfigError,
  UnknownLimiterError,
} from "../errors.ts";
import { Acquirer } from "./acquirer.ts";
import { bindValidator, DynamicConfig, replaceDefinition, validatedDefinition } from "./dynamic-config.ts";
import { Engine, type EngineOutcome, type Member } from "./engine.ts";
import { type Listener, TypedEmitter } from "./events.ts";
import { assertValidKey } from "./keys.ts";
import { copyCounters, type LimiterCounters, type MetricsSnapshot } from "./metrics.ts";
import { Notices } from "./notices.ts";
import {
  LimiterEntry,
  type LimiterOrigin,
  type PreparedUpdate,
  Registry,
  type ResolvedKey,
} from "./registry.ts";
import { planReload, planReloadSteps, type ReloadPlan, sameSnapshotSteps } from "./reload-plan.ts";
import { readSettled } from "./settled-read.ts";
import { StorePool } from "./store-pool.ts";
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
import { UsageMarks } from "./usage-marks.ts";
import { ConfigWatcher, DEFAULT_DEBOUNCE_MS } from "./watcher.ts";

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

/** Package-internal: how the last reload was parsed and sliced (tests read it). Not public API. */
export const reloadStats: unique symbol = Symbol("rate-sync.reloadStats");

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
  /** Failures reported by an event nobody listens to become notices (one line, rate-limited). */
  readonly #events = new TypedEmitter<RateSyncEvents>((event, payload) => this.#unheard(event, payload));
  readonly #notices: Notices;
  /** Which limiters took calls lately (for the warning of a reload that removes one in use); file configs only. */
  readonly #usage: UsageMarks<LimiterEntry> | undefined;
  /** Where the search path looked, when `fromFile()` found no file: said by errors of keys that match nothing. */
  #notFound: string | undefined;
  readonly #engine: Engine;
  readonly #acquirer: Acquirer;
  readonly #stores: StorePool;
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
  /** True while a reload hands DynamicConfigs their new definitions (their configs come from the snapshot). */
  #notifyingReload = false;
  /** How the last reload was sliced (package-internal, for tests: see `reloadStats`). */
  #lastReloadStats: SlicedLoadStats = { slices: 0, parsedInThread: false, threadMessages: 0 };
  #closed: Promise<void> | undefined;

  private constructor(snapshot: ConfigSnapshot, options: RateSyncOptions) {
    this.#snapshot = snapshot;
    this.#options = options;
    this.#notices = new Notices(options);
    this.#registry = new Registry(snapshot.defaults.maxClones);
    this.#stores = new StorePool(options.stores ?? {}, (id) => this.#snapshot.stores.get(id));
    this.#engine = new Engine(this.#stores, this.#events);
    this.#acquirer = new Acquirer(this.#engine);
    const entries: LimiterEntry[] = [];
    for (const [id, config] of snapshot.limiters) {
      entries.push(this.#createEntry(id, snapshot.definitions.get(id)!, config, "file"));
    }
    this.#registry.update([], entries);
    // Only a file can be reloaded, so only then can a reload remove a limiter behind the callers' backs.
    this.#usage = snapshot.file === undefined ? undefined : new UsageMarks(this.#registry);
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
    // Started empty because nothing was found: a key that then matches nothing says so, and where it looked.
    if (snapshot === undefined) rs.#notFound = describeConfigSearch(loadOptions);
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

  /** Package-internal: how the last reload was parsed and sliced. */
  [reloadStats](): Readonly<SlicedLoadStats> {
    return { ...this.#lastReloadStats };
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
      const members = this.#members(key, options.cost);
      const outcome = this.#engine.decide(members, 0);
      if (outcome instanceof Promise) return outcome.then((done) => this.#tryDecision(done, members));
      return Promise.resolve(this.#tryDecision(outcome, members));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The decision `tryAcquire` hands out: with the lease to release when it took a concurrency slot. */
  #tryDecision(outcome: EngineOutcome, members: readonly Member[]): Decision {
    if (!outcome.allowed || outcome.leaseParts.length === 0) return outcome.decision;
    return { ...outcome.decision, lease: this.#acquirer.leaseFor(outcome, members) };
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
    return this.#acquirer.acquire(this.#members(key, options.cost), options, started);
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
    // One key only: a composite (an array) would otherwise be read as its first member without a word.
    assertValidKey(key);
    const [member] = this.#members(key, 1);
    const { resolved, config } = member!;
    const store = this.#stores.store(config.store);
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
    // One key only: a composite (an array) would otherwise be read as its first member without a word.
    assertValidKey(key);
    const [member] = this.#members(key, 1);
    const { resolved, config } = member!;
    await this.#stores.store(config.store).reset(resolved.entry.id, resolved.storeKey(config.hashKeys));
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
    // A Node timer longer than MAX_TIMER_MS fires after 1 ms: such a debounce would reload on every event.
    if (!Number.isFinite(debounceMs) || debounceMs < 0 || debounceMs > MAX_TIMER_MS) {
      throw new InvalidArgumentError(
        `debounceMs must be a number from 0 to ${MAX_TIMER_MS}, got ${describeValue(debounceMs)}`,
      );
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
    let snapshot: ConfigSnapshot;
    let plan: ReloadPlan;
    let prepared: PreparedUpdate;
    this.#lastReloadStats = { slices: 0, parsedInThread: false, threadMessages: 0 };
    try {
      // The file is read once, after it stopped changing, and everything below decides on that text: a size
      // checked apart from the read let a truncating save slip an empty file in between (#13).
      const read = await readSettled(file, { maxBytes: MAX_CONFIG_BYTES });
      if (this.#closed) throw new ClosedError();
      if (read.kind === "too-large") throw new ConfigError([tooLargeIssue(file, read.bytes)]);
      // Missing, empty or still being written: a save in progress. The watcher hears its end and reloads then.
      const empty = read.kind === "text" && read.text.trim() === "";
      if (fromWatcher && (read.kind !== "text" || empty)) return undefined;
      if (read.kind === "missing") {
        throw new ConfigError([{ file, path: "", message: `the config file ${file} does not exist` }]);
      }
      if (read.kind === "unsettled") {
        throw new ConfigError([
          {
            file,
            path: "",
            message: `the file kept changing for ${read.waitedMs} ms; the running config is kept`,
          },
        ]);
      }
      // An empty file is valid TOML with no limiters, but as a reload it is almost surely a save caught half
      // way (a truncating write): applying it would remove every limiter. Nothing is lost instead.
      if (empty) {
        throw new ConfigError([{ file, path: "", message: "the file is empty; the running config is kept" }]);
      }
      // `${ENV}` is re-read now: the env given at construction, else `process.env` as it is at this moment.
      // Parsed in a worker thread and checked in slices, so calls keep being served meanwhile (#13).
      snapshot = await parseConfigFileTextInSlices(
        read.text,
        file,
        this.#options.env === undefined ? {} : { env: this.#options.env },
        this.#lastReloadStats,
      );
      if (this.#closed) throw new ClosedError();
      this.#refuseRemovingAll(file, snapshot);
      // Limiters configured in code live on in the new file's context (its stores and defaults): one that no
      // longer validates there (its store was removed) makes the whole reload invalid, not half-applied.
      const codeConfigs = this.#revalidateCodeLimiters(snapshot);
      if (fromWatcher && (await runInSlices(sameSnapshotSteps(this.#snapshot, snapshot)))) return undefined;
      plan = await runInSlices(planReloadSteps(this.#registry, snapshot, codeConfigs, this.#fileEntry));
      if (this.#closed) throw new ClosedError();
      if (plan.registryVersion !== this.#registry.version) {
        // Limiters were configured or removed in code while the plan was made: planned again, in one piece and
        // right before the swap, so nothing can change in between.
        plan = planReload(this.#registry, snapshot, this.#revalidateCodeLimiters(snapshot), this.#fileEntry);
      }
      prepared = await runInSlices(this.#registry.prepareSteps(plan.event.removed, plan.create));
      if (this.#closed) throw new ClosedError();
      if (prepared.version !== this.#registry.version) {
        // Changed in code meanwhile: planned and prepared again, in one piece, right before the swap.
        plan = planReload(this.#registry, snapshot, this.#revalidateCodeLimiters(snapshot), this.#fileEntry);
        prepared = runSync(this.#registry.prepareSteps(plan.event.removed, plan.create));
      }
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
    const retired = this.#apply(snapshot, plan, prepared);
    // Removed entries stop listening, and DynamicConfig listeners hear of their new definitions, after the
    // swap, in slices too.
    await runInSlices(this.#registry.retireSteps(retired), undefined, this.#lastReloadStats);
    await runInSlices(this.#notifySteps(snapshot, plan.notify), undefined, this.#lastReloadStats);
    const removedEntries = prepared.removed;
    this.#warnRemovedInUse(removedEntries);
    const event = plan.event;
    this.#reloads++;
    this.#events.emit("reload", event);
    return event;
  }

  /**
   * A file that declares no limiter while limiters of the file run is refused unless it says
   * `allow_no_limiters = true`: it is far more often a save cut short (only `[stores]` or `[defaults]` written
   * yet) than a wish to stop limiting everything.
   * @throws ConfigError
   */
  #refuseRemovingAll(file: string, snapshot: ConfigSnapshot): void {
    if (snapshot.limiters.size > 0 || snapshot.allowNoLimiters) return;
    let running = 0;
    for (const entry of this.#registry.entries()) if (entry.origin === "file") running++;
    if (running === 0) return;
    throw new ConfigError([
      {
        file,
        path: "",
        message: `the file declares no limiters and would remove all ${running} running limiter(s) of the file; the running config is kept (write allow_no_limiters = true before the first table to remove them all)`,
      },
    ]);
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
    return {
      limiters,
      reloads: this.#reloads,
      reloadErrors: this.#reloadErrors,
      stores: this.#stores.stats(),
    };
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
    this.#usage?.stop();
    await this.#watcher?.close();
    this.#watcher = undefined;
    // A reload reading the file now gives up before applying (it sees the instance closed); waiting for it
    // means no file handle or timer of ours outlives `close()`.
    await this.#reloadQueue;
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

  /** Removed limiters that took calls lately: reported as a `reloadWarning` (a renamed template, typically). */
  #warnRemovedInUse(removed: readonly LimiterEntry[]): void {
    const usage = this.#usage;
    if (usage === undefined) return;
    const inUse = removed.filter((entry) => usage.recentlyUsed(entry)).map((entry) => entry.id);
    if (inUse.length === 0) return;
    const names = inUse.map((id) => JSON.stringify(id)).join(", ");
    this.#events.emit("reloadWarning", {
      kind: "removed-in-use",
      limiters: inUse,
      message: `the reload of ${this.#snapshot.file ?? "the config"} removed ${inUse.length === 1 ? "limiter" : "limiters"} ${names}, which took calls in the last minute: those calls now fail with UnknownLimiterError (HTTP 500). Restore or rename back the limiter if this was not meant.`,
    });
  }

  /** Resolves keys and validates the cost against each limiter (one whole config per member per call). */
  #members(key: KeyInput, cost: number | undefined): Member[] {
    const keys: readonly unknown[] = Array.isArray(key) ? key : [key];
    if (keys.length === 0) throw new InvalidKeyError("A composite key must list at least one key");
    const units = cost ?? 1;
    if (typeof units !== "number" || !Number.isFinite(units) || units <= 0) {
      throw new InvalidArgumentError(`cost must be a positive finite number, got ${describeValue(cost)}`);
    }
    // Smaller costs would underflow PostgreSQL's float8 arithmetic (see bounds.ts).
    if (units < MIN_COST) throw new InvalidArgumentError(`cost must be at least ${MIN_COST}, got ${units}`);
    const members: Member[] = [];
    for (const k of keys) {
      assertValidKey(k);
      let resolved: ResolvedKey;
      try {
        resolved = this.#registry.resolve(k);
      } catch (error) {
        throw this.#unknownKey(k, error);
      }
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

  /** Validates one definition in this instance's context (its stores and defaults). */
  #validate(id: string, definition: LimiterDefinition, snapshot = this.#snapshot): LimiterConfig {
    const stores = new Map(snapshot.stores);
    for (const injected of this.#stores.injectedIds()) {
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
    // Every caller has validated `definition` in this instance's context already (`config` is the result).
    const dynamic = new DynamicConfig(definition, validatedDefinition);
    dynamic[bindValidator]((next) => this.#validate(id, next));
    const unsubscribes: (() => void)[] = [];
    const entry = new LimiterEntry(id, config, dynamic, origin, () => {
      for (const unsubscribe of unsubscribes) unsubscribe();
    });
    // Every change of the definition (update, reload, provider) re-derives the config the next call reads.
    unsubscribes.push(
      dynamic.subscribe((next) => {
        // A reload hands over the config its snapshot validated right after notifying: validating each
        // definition again here would double the cost of reloading a large file.
        if (!this.#notifyingReload) entry.config = this.#validate(id, next);
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
   * Applies a planned reload in one step. Everything was decided before and is swapped here with plain
   * assignments (nothing here awaits or can fail halfway), so a call starting at any moment resolves against
   * either the whole old config or the whole new one.
   * @returns the entries to retire after the swap (see `Registry.commit`).
   */
  #apply(snapshot: ConfigSnapshot, plan: ReloadPlan, prepared: PreparedUpdate): readonly LimiterEntry[] {
    const previous = this.#snapshot;
    const { reconfigure } = plan;

    // ---- the swap: from here to the end of the loops, only assignments.
    this.#snapshot = snapshot;
    this.#registry.setMaxClones(snapshot.defaults.maxClones);
    const retired = this.#registry.commit(prepared);
    // In place: clones keep their handles and read the new parameters on their next call; the usage so far
    // stays in the store under the same state tag unless the algorithm or window changed (`stateTag`).
    for (const [entry, config] of reconfigure) entry.config = config;
    this.#stores.retireChanged(previous, snapshot);
    return retired;
  }

  /** Builds the entry of a limiter a reload adds. */
  readonly #fileEntry = (id: string, definition: LimiterDefinition, config: LimiterConfig): LimiterEntry =>
    this.#createEntry(id, definition, config, "file");

  /**
   * Hands each reloaded DynamicConfig its new definition (after the swap: a throwing listener can no longer
   * leave a mix behind); the snapshot's config is what runs afterwards. Steps: a large reload notifies in
   * slices. A limiter removed in code meanwhile is skipped; one whose definition was changed in code since the
   * reload was planned keeps that change (the later one), and runs it in the new file's context.
   */
  *#notifySteps(
    snapshot: ConfigSnapshot,
    notify: readonly (readonly [LimiterEntry, LimiterDefinition, LimiterDefinition])[],
  ): Steps<void> {
    let done = 0;
    for (const [entry, definition, planned] of notify) {
      if (++done % STEP_SIZE === 0) yield;
      if (entry.removed) continue;
      if (entry.dynamic.get() !== planned) {
        try {
          entry.config = this.#validate(entry.id, entry.dynamic.get());
        } catch {
          // Invalid in the new file's context (its store was removed): the file's config runs.
        }
        continue;
      }
      // Only while this one definition is handed over: the entry's listener then takes the snapshot's config
      // instead of validating the definition again (it would double the cost of a large reload).
      this.#notifyingReload = true;
      try {
        entry.dynamic[replaceDefinition](definition);
      } catch (error) {
        process.emitWarning(error instanceof Error ? error : new Error(String(error)), {
          code: "RATE_SYNC_LISTENER_ERROR",
          detail: `A DynamicConfig listener of "${entry.id}" threw during a reload`,
        });
      } finally {
        this.#notifyingReload = false;
      }
      // The snapshot's config is the one the file validated; whatever a listener did, it is what runs.
      const config = snapshot.limiters.get(entry.id);
      if (config) entry.config = config;
    }
  }
}
