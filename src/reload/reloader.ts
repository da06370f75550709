/**
 * @module
 * The reload lifecycle of one instance: the running snapshot, the reloads of its file (called or triggered by
 * the watcher, one at a time), the one-step swap to a new snapshot, and the events that report it
 * (`reload`, `reloadError`, `reloadWarning`). `RateSync.reload()` and `RateSync.watch()` delegate here.
 */

import { MAX_TIMER_MS } from "../config/bounds.ts";
import { fileIssue } from "../config/issues.ts";
import { MAX_CONFIG_BYTES } from "../config/load.ts";
import { parseConfigFileTextInSlices, type SlicedLoadStats } from "../config/load-sliced.ts";
import { runInSlices, runSync, STEP_SIZE, type Steps } from "../config/steps.ts";
import type { ConfigSnapshot } from "../config/types.ts";
import { describeValue } from "../config/units.ts";
import type { TypedEmitter } from "../core/events.ts";
import type { RateSyncEvents, ReloadEvent } from "../core/types.ts";
import type { StorePool } from "../decide/store-pool.ts";
import { ClosedError, ConfigError, InvalidArgumentError, isConfigError } from "../errors.ts";
import type { LimiterEntry, PreparedUpdate, Registry } from "../limiters/registry.ts";
import { LimiterDefinitions } from "./limiter-definitions.ts";
import { refuseRemovingAll, textToReload } from "./refusals.ts";
import {
  type Notify,
  planReload,
  planReloadSteps,
  type ReloadPlan,
  sameSnapshotSteps,
} from "./reload-plan.ts";
import { readSettled } from "./settled-read.ts";
import { UsageMarks } from "./usage-marks.ts";
import { ConfigWatcher, DEFAULT_DEBOUNCE_MS } from "./watcher.ts";

/** What a reloader works on: the instance's registry, stores and events, and how `${ENV}` is read. */
export interface ReloaderContext {
  /** The instance's limiters: filled from the first snapshot, then updated by each reload in one swap. */
  readonly registry: Registry;
  /** The instance's stores: a reload retires those whose config it changed or removed. */
  readonly stores: StorePool;
  /** Where `reload`, `reloadError` and `reloadWarning` are emitted. */
  readonly events: TypedEmitter<RateSyncEvents>;
  /** Environment for `${VAR}` in the file, read again at each reload; undefined: `process.env` then. */
  readonly env: Record<string, string | undefined> | undefined;
}

/**
 * Owns the running snapshot and everything that replaces it. Constructed with the instance's first snapshot,
 * whose limiters it enters into the registry.
 *
 * @example
 * ```ts
 * const reloader = new Reloader(snapshot, { registry, stores, events, env: undefined });
 * await reloader.watch({ debounceMs: 50 });
 * const event = await reloader.reload(); // { added, removed, changed }
 * await reloader.close();
 * ```
 */
export class Reloader {
  /** The config the running limiters came from; replaced whole by a valid reload. */
  #snapshot: ConfigSnapshot;
  readonly #context: ReloaderContext;
  /** The limiters' definitions: validated in the running snapshot's context, code ones kept across reloads. */
  readonly definitions: LimiterDefinitions;
  /** Which limiters took calls lately (for the warning of a reload that removes one in use); file configs only. */
  readonly #usage: UsageMarks<LimiterEntry> | undefined;
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
  /** How the last reload was sliced (package-internal, for tests: see `reloadStats`). */
  #lastReloadStats: SlicedLoadStats = { slices: 0, parsedInThread: false, threadMessages: 0 };
  /** Set by `close()`: a reload in flight gives up before applying. */
  #closed = false;

  constructor(snapshot: ConfigSnapshot, context: ReloaderContext) {
    this.#snapshot = snapshot;
    this.#context = context;
    this.definitions = new LimiterDefinitions({
      registry: context.registry,
      stores: context.stores,
      snapshot: () => this.#snapshot,
      onInvalid: (error) => {
        this.#reloadErrors++;
        if (isConfigError(error)) context.events.emit("reloadError", error);
      },
    });
    const entries: LimiterEntry[] = [];
    for (const [id, config] of snapshot.limiters) {
      entries.push(this.definitions.fileEntry(id, snapshot.definitions.get(id)!, config));
    }
    context.registry.update([], entries);
    // Only a file can be reloaded, so only then can a reload remove a limiter behind the callers' backs.
    this.#usage = snapshot.file === undefined ? undefined : new UsageMarks(context.registry);
  }

  /** The config snapshot the limiters were last loaded from (file or object). */
  get snapshot(): ConfigSnapshot {
    return this.#snapshot;
  }

  /** Reloads applied (also those that changed nothing). */
  get reloads(): number {
    return this.#reloads;
  }

  /** Reloads refused, and provider definitions ignored, because they were invalid. */
  get reloadErrors(): number {
    return this.#reloadErrors;
  }

  /** How the last reload was parsed and sliced (a copy). */
  lastReloadStats(): SlicedLoadStats {
    return { ...this.#lastReloadStats };
  }

  /**
   * Re-reads the config file now (see `RateSync.reload`): after every reload queued before, always applying
   * and reporting what it read.
   * @throws ConfigError when the file is refused or invalid (also reported as `reloadError`).
   */
  async reload(): Promise<ReloadEvent> {
    const file = this.#snapshot.file;
    if (!file) throw new InvalidArgumentError("reload() needs an instance loaded from a file");
    const event = await this.#enqueueReload(() => this.#reloadNow(file, false));
    // An explicit reload always applies (and reports) what it read, so `undefined` cannot come back here.
    return event ?? { added: [], removed: [], changed: [] };
  }

  /**
   * Watches the config file (see `RateSync.watch`); idempotent. Resolves once the watch is in place.
   * @throws InvalidArgumentError (at once) without a file, or for a `debounceMs` out of range.
   */
  watch(options: { debounceMs?: number } = {}): Promise<void> {
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

  /**
   * Stops watching and marking usage, and waits for the reload in flight, if any (it gives up before applying:
   * no file handle or timer of ours outlives this). Reloads queued afterwards fail with ClosedError.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#usage?.stop();
    await this.#watcher?.close();
    this.#watcher = undefined;
    await this.#reloadQueue;
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
    const { registry, events, env } = this.#context;
    const definitions = this.definitions;
    let snapshot: ConfigSnapshot;
    let plan: ReloadPlan;
    let prepared: PreparedUpdate;
    this.#lastReloadStats = { slices: 0, parsedInThread: false, threadMessages: 0 };
    try {
      // The file is read once, after it stopped changing, and everything below decides on that text: a size
      // checked apart from the read let a truncating save slip an empty file in between (#13).
      const read = await readSettled(file, { maxBytes: MAX_CONFIG_BYTES });
      if (this.#closed) throw new ClosedError();
      const text = textToReload(file, read, fromWatcher);
      // Missing, empty or still being written: a save in progress. The watcher hears its end and reloads then.
      if (text === undefined) return undefined;
      // `${ENV}` is re-read now: the env given at construction, else `process.env` as it is at this moment.
      // Parsed in a worker thread and checked in slices, so calls keep being served meanwhile (#13).
      snapshot = await parseConfigFileTextInSlices(
        text,
        file,
        env === undefined ? {} : { env },
        this.#lastReloadStats,
      );
      if (this.#closed) throw new ClosedError();
      refuseRemovingAll(file, snapshot, registry);
      // A store naming a client that was never handed over could not run: refused before anything changes.
      this.#context.stores.checkClients(snapshot);
      // Limiters configured in code live on in the new file's context (its stores and defaults): one that no
      // longer validates there (its store was removed) makes the whole reload invalid, not half-applied.
      const codeConfigs = definitions.codeConfigs(snapshot);
      if (fromWatcher && (await runInSlices(sameSnapshotSteps(this.#snapshot, snapshot)))) return undefined;
      plan = await runInSlices(planReloadSteps(registry, snapshot, codeConfigs, definitions.fileEntry));
      if (this.#closed) throw new ClosedError();
      if (plan.registryVersion !== registry.version) {
        // Limiters were configured or removed in code while the plan was made: planned again, in one piece and
        // right before the swap, so nothing can change in between.
        plan = planReload(registry, snapshot, definitions.codeConfigs(snapshot), definitions.fileEntry);
      }
      prepared = await runInSlices(registry.prepareSteps(plan.event.removed, plan.create));
      if (this.#closed) throw new ClosedError();
      if (prepared.version !== registry.version) {
        // Changed in code meanwhile: planned and prepared again, in one piece, right before the swap.
        plan = planReload(registry, snapshot, definitions.codeConfigs(snapshot), definitions.fileEntry);
        prepared = runSync(registry.prepareSteps(plan.event.removed, plan.create));
      }
    } catch (error) {
      if (this.#closed) throw new ClosedError();
      this.#reloadErrors++;
      const configError = isConfigError(error)
        ? error
        : new ConfigError([fileIssue(file, error instanceof Error ? error.message : String(error))], {
            cause: error,
          });
      events.emit("reloadError", configError);
      throw configError;
    }
    const retired = this.#apply(snapshot, plan, prepared);
    // Removed entries stop listening, and DynamicConfig listeners hear of their new definitions, after the
    // swap, in slices too.
    await runInSlices(registry.retireSteps(retired), undefined, this.#lastReloadStats);
    await runInSlices(this.#notifySteps(snapshot, plan.notify), undefined, this.#lastReloadStats);
    this.#warnRemovedInUse(prepared.removed);
    const event = plan.event;
    this.#reloads++;
    events.emit("reload", event);
    return event;
  }

  /**
   * Applies a planned reload in one step. Everything was decided before and is swapped here with plain
   * assignments (nothing here awaits or can fail halfway), so a call starting at any moment resolves against
   * either the whole old config or the whole new one.
   * @returns the entries to retire after the swap (see `Registry.commit`).
   */
  #apply(snapshot: ConfigSnapshot, plan: ReloadPlan, prepared: PreparedUpdate): readonly LimiterEntry[] {
    const previous = this.#snapshot;
    const { registry, stores } = this.#context;
    const { reconfigure } = plan;

    // ---- the swap: from here to the end of the loops, only assignments.
    this.#snapshot = snapshot;
    registry.setMaxClones(snapshot.defaults.maxClones);
    const retired = registry.commit(prepared);
    // In place: clones keep their handles and read the new parameters on their next call; the usage so far
    // stays in the store under the same state tag unless the algorithm or window changed (`stateTag`).
    for (let i = 0; i < reconfigure.entries.length; i++)
      reconfigure.entries[i]!.config = reconfigure.configs[i]!;
    stores.retireChanged(previous, snapshot);
    return retired;
  }

  /**
   * Hands each reloaded DynamicConfig its new definition (after the swap: a throwing listener can no longer
   * leave a mix behind); the snapshot's config is what runs afterwards. Steps: a large reload notifies in
   * slices. A limiter removed in code meanwhile is skipped; one whose definition was changed in code since the
   * reload was planned keeps that change (the later one), and runs it in the new file's context.
   */
  *#notifySteps(snapshot: ConfigSnapshot, notify: Notify): Steps<void> {
    for (let i = 0; i < notify.entries.length; i++) {
      if ((i + 1) % STEP_SIZE === 0) yield;
      const entry = notify.entries[i]!;
      const definition = notify.definitions[i]!;
      const planned = notify.planned[i]!;
      if (entry.removed) continue;
      if (entry.dynamic.get() !== planned) {
        try {
          entry.config = this.definitions.validate(entry.id, entry.dynamic.get());
        } catch {
          // Invalid in the new file's context (its store was removed): the file's config runs.
        }
        continue;
      }
      this.definitions.handOver(entry, definition, snapshot.limiters.get(entry.id));
    }
  }

  /** Removed limiters that took calls lately: reported as a `reloadWarning` (a renamed template, typically). */
  #warnRemovedInUse(removed: readonly LimiterEntry[]): void {
    const usage = this.#usage;
    if (usage === undefined) return;
    const inUse = removed.filter((entry) => usage.recentlyUsed(entry)).map((entry) => entry.id);
    if (inUse.length === 0) return;
    const names = inUse.map((id) => JSON.stringify(id)).join(", ");
    this.#context.events.emit("reloadWarning", {
      kind: "removed-in-use",
      limiters: inUse,
      message: `the reload of ${this.#snapshot.file ?? "the config"} removed ${inUse.length === 1 ? "limiter" : "limiters"} ${names}, which took calls in the last minute: those calls now fail with UnknownLimiterError (HTTP 500). Restore or rename back the limiter if this was not meant.`,
    });
  }
}
