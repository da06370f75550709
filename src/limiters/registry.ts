/**
 * @module
 * The limiters of one RateSync instance and how a key finds its limiter (SPEC §3):
 * 1. a limiter whose id equals the key;
 * 2. the template whose literal parts match, most literal characters first;
 * 3. rate-sync compatibility: `base:rest` where `base` is a plain limiter id;
 * 4. otherwise `UnknownLimiterError` — a key never runs unlimited by accident.
 * Resolutions are cached per key in a bounded cache (`max_clones`). A cached handle holds no state (state
 * lives in the store), so evicting one never resets a limit.
 */

import { randomUUID } from "node:crypto";
import { storeCost } from "../algorithms/shared.ts";
import type { RateParams } from "../algorithms/types.ts";
import { STEP_SIZE, type Steps } from "../config/steps.ts";
import type { LimiterConfig, LimiterDefinition } from "../config/types.ts";
import { createCounters, type LimiterCounters } from "../core/metrics.ts";
import { hashKey } from "../decide/keys.ts";
import { UnknownLimiterError } from "../errors.ts";
import { bindOwner, type DynamicConfig, type DynamicOwner, unbindOwner } from "../reload/dynamic-config.ts";
import type { StoreOp } from "../stores/store.ts";
import { BoundedCache } from "./bounded-cache.ts";
import { type CompiledTemplate, compileTemplate, isTemplateId, matchTemplate } from "./templates.ts";

/** Where a limiter came from: reloads replace `file` limiters and leave `code` ones alone. */
export type LimiterOrigin = "file" | "code";

/**
 * What keeps an entry's config derived from its definition (the instance's `LimiterDefinitions`): one object
 * shared by every entry, not closures per entry.
 */
export interface EntryOwner {
  /** Validates `definition` as the definition of limiter `id` in the instance's context. @throws ConfigError */
  validate(id: string, definition: LimiterDefinition): LimiterConfig;
  /** The definition of `entry` changed (an `update`, a reload, a provider). */
  changed(entry: LimiterEntry, definition: LimiterDefinition): void;
}

/** One limiter or template: its live config, its DynamicConfig and its counters. */
export class LimiterEntry implements DynamicOwner {
  /** The current validated config; replaced whole (never mutated) when the definition changes. */
  config: LimiterConfig;
  /** Set when a reload or `remove` took the limiter away: cached handles then answer UnknownLimiterError. */
  removed = false;
  /** Counters of every key of this limiter: made on the first call (about 180 bytes a limiter otherwise). */
  #counters: LimiterCounters | undefined;
  /** The compiled matcher when the id is a template. */
  readonly template: CompiledTemplate | undefined;
  /** The key equal to this id, resolved (made on first use): an exact id takes no slot of the clone cache. */
  #own: ResolvedKey | undefined;

  readonly #owner: EntryOwner;
  /** Stops listening to the limiter's provider, when it has one. */
  #stopProvider: (() => void) | undefined;

  /** Binds itself to `dynamic`: its changes reach `owner.changed` until {@link unsubscribe}. */
  constructor(
    readonly id: string,
    config: LimiterConfig,
    readonly dynamic: DynamicConfig,
    readonly origin: LimiterOrigin,
    owner: EntryOwner,
  ) {
    this.config = config;
    this.template = isTemplateId(id) ? compileTemplate(id) : undefined;
    this.#owner = owner;
    dynamic[bindOwner](this);
  }

  /** Package-internal (DynamicOwner): validation of the limiter's definition in its instance's context. */
  validateDefinition(definition: LimiterDefinition): LimiterConfig {
    return this.#owner.validate(this.id, definition);
  }

  /** Package-internal (DynamicOwner): the DynamicConfig's definition changed. */
  definitionChanged(definition: LimiterDefinition): void {
    this.#owner.changed(this, definition);
  }

  /** Follows a provider as well; `stop` ends that (see {@link unsubscribe}). */
  followProvider(stop: () => void): void {
    this.#stopProvider = stop;
  }

  /** Stops listening to the limiter's DynamicConfig and provider. */
  unsubscribe(): void {
    this.dynamic[unbindOwner]();
    this.#stopProvider?.();
    this.#stopProvider = undefined;
  }

  /** Counters of every key of this limiter. */
  get counters(): LimiterCounters {
    this.#counters ??= createCounters();
    return this.#counters;
  }

  /** False while nothing has been counted (the counters are all zero and not made yet). */
  get hasCounters(): boolean {
    return this.#counters !== undefined;
  }

  /** The key equal to this id, bound to this entry. */
  get own(): ResolvedKey {
    this.#own ??= new ResolvedKey(this.id, this);
    return this.#own;
  }
}

/** A key bound to the limiter it resolved to. */
export class ResolvedKey {
  #hashed: string | undefined;
  /** The op of the last rate-only call (see {@link rateOp}). */
  #rateOp: StoreOp | undefined;

  constructor(
    readonly key: string,
    readonly entry: LimiterEntry,
  ) {}

  /**
   * The name the key's state is stored under: the key itself, or its SHA-256 under `hash_keys`. Takes the
   * call's own `hashKeys` (not the live config) so a call that spans a reload keeps one name throughout.
   */
  storeKey(hashKeys: boolean): string {
    if (!hashKeys) return this.key;
    this.#hashed ??= hashKey(this.key);
    return this.#hashed;
  }

  /**
   * The one store operation of a call of this key under a `config` with a rate limit and no concurrency limit
   * (such an op carries no lease id, so one object serves call after call until the config or the cost
   * changes; `rate` is `config.rate`). Kept for the one-key fast lane: building it per call was a tenth of a
   * memory decision.
   */
  rateOp(config: LimiterConfig, rate: RateParams, cost: number): StoreOp {
    const units = storeCost(rate, cost);
    const key = this.storeKey(config.hashKeys);
    const op = this.#rateOp;
    if (op !== undefined && op.params === rate && op.cost === units && op.key === key) return op;
    const made: StoreOp = { limiterId: this.entry.id, key, params: rate, cost: units };
    this.#rateOp = made;
    return made;
  }

  /** The store operations of one call of this key under `config`: its rate part(s), then its concurrency part. */
  opsFor(config: LimiterConfig, cost: number): StoreOp[] {
    // Built per call, not cached on the key: measured, a cache saved nothing visible and cost memory per key.
    const limiterId = this.entry.id;
    const key = this.storeKey(config.hashKeys);
    const ops: StoreOp[] = [];
    if (config.limits !== undefined) {
      // Every limit, decided with the others in one atomic batch (each has a state of its own: `part`).
      for (const { rate } of config.limits)
        ops.push({ limiterId, key, params: rate, cost: storeCost(rate, cost) });
    } else if (config.rate) {
      ops.push({ limiterId, key, params: config.rate, cost: storeCost(config.rate, cost) });
    }
    // The block rides on the first rate op, and covers every rate op (`block.span`).
    if (config.block !== undefined && ops.length > 0) ops[0] = { ...ops[0]!, block: config.block };
    if (config.concurrency)
      ops.push({ limiterId, key, params: config.concurrency, cost: 1, leaseId: randomUUID() });
    return ops;
  }
}

/** A registry update built ahead of time by {@link Registry.prepareSteps}, applied by {@link Registry.commit}. */
export interface PreparedUpdate {
  readonly version: number;
  readonly remove: readonly string[];
  readonly add: readonly LimiterEntry[];
  readonly entries: Map<string, LimiterEntry>;
  readonly templates: CompiledTemplate[];
  /** The entries `remove` takes away (to mark removed once committed). */
  readonly removed: readonly LimiterEntry[];
}

/** The limiters of one instance and the key → limiter resolution. */
export class Registry {
  #entries = new Map<string, LimiterEntry>();
  /** Templates in declaration order (ties between equally literal templates go to the first). */
  #templates: CompiledTemplate[] = [];
  #cache: BoundedCache<string, ResolvedKey>;
  #indexBuilds = 0;
  #version = 0;

  constructor(maxClones: number) {
    this.#cache = new BoundedCache(maxClones);
  }

  /** The entry with exactly this id. */
  get(id: string): LimiterEntry | undefined {
    return this.#entries.get(id);
  }

  /** Every entry, in declaration order. */
  entries(): IterableIterator<LimiterEntry> {
    return this.#entries.values();
  }

  /** Adds or replaces an entry; cached resolutions are dropped since they may now resolve differently. */
  set(entry: LimiterEntry): void {
    this.update([], [entry]);
  }

  /** Removes an entry: its keys answer UnknownLimiterError from now on. */
  delete(id: string): void {
    this.update([id], []);
  }

  /**
   * Removes the entries `remove` names, then adds or replaces the entries of `add`, and rebuilds the template
   * index once for the whole batch. Loading or reloading N limiters costs O(N) this way; one rebuild per
   * entry made it O(N²) (80k limiters took 30 s to load).
   */
  update(remove: readonly string[], add: readonly LimiterEntry[]): void {
    this.#version++;
    let changed = false;
    for (const id of remove) {
      const entry = this.#entries.get(id);
      if (!entry) continue;
      entry.removed = true;
      entry.unsubscribe();
      this.#entries.delete(id);
      changed = true;
    }
    for (const entry of add) {
      const previous = this.#entries.get(entry.id);
      if (previous && previous !== entry) {
        previous.removed = true;
        previous.unsubscribe();
      }
      this.#entries.set(entry.id, entry);
      changed = true;
    }
    if (changed) this.#rebuild();
  }

  /**
   * Builds, in steps, the entries and template index `update(remove, add)` would leave, without changing
   * anything: {@link commit} then swaps them in with a few assignments. Removing and adding 100k limiters in
   * `update` held the event loop for over 100 ms.
   */
  *prepareSteps(remove: readonly string[], add: readonly LimiterEntry[]): Steps<PreparedUpdate> {
    const version = this.#version;
    // Nothing added or removed (a reload that changes limits only): the current entries and index stay as
    // they are, rather than copied (100k limiters: a second map of 100k entries and two passes over it).
    if (remove.length === 0 && add.length === 0) {
      return { version, remove, add, entries: this.#entries, templates: this.#templates, removed: [] };
    }
    const removing = new Set<string>();
    const removed: LimiterEntry[] = [];
    let done = 0;
    for (const id of remove) {
      if (++done % STEP_SIZE === 0) yield;
      const entry = this.#entries.get(id);
      if (!entry) continue;
      removing.add(id);
      removed.push(entry);
    }
    const entries = new Map<string, LimiterEntry>();
    for (const entry of this.#entries.values()) {
      if (++done % STEP_SIZE === 0) yield;
      if (!removing.has(entry.id)) entries.set(entry.id, entry);
    }
    for (const entry of add) {
      if (++done % STEP_SIZE === 0) yield;
      entries.set(entry.id, entry);
    }
    const templates: CompiledTemplate[] = [];
    for (const entry of entries.values()) {
      if (++done % STEP_SIZE === 0) yield;
      if (entry.template) templates.push(entry.template);
    }
    return { version, remove, add, entries, templates, removed };
  }

  /**
   * Applies a prepared update in one step, as `update` would. The entries it removes are marked removed and
   * stop listening in {@link retireSteps}, after the swap (the resolution cache is dropped here, so no call
   * reaches them meanwhile). When the registry changed since the preparation, `update` runs instead.
   * @returns the entries to retire.
   */
  commit(prepared: PreparedUpdate): readonly LimiterEntry[] {
    if (prepared.version !== this.#version) {
      this.update(prepared.remove, prepared.add);
      return [];
    }
    this.#version++;
    this.#indexBuilds++;
    this.#entries = prepared.entries;
    this.#templates = prepared.templates;
    this.#cache.clear();
    return prepared.removed;
  }

  /** Marks entries a commit removed, and stops them listening; steps. */
  *retireSteps(retired: readonly LimiterEntry[]): Steps<void> {
    let done = 0;
    for (const entry of retired) {
      if (++done % STEP_SIZE === 0) yield;
      entry.removed = true;
      entry.unsubscribe();
    }
  }

  /** Changes at every `set`, `delete` or `update`: a plan made at one version is stale at another. */
  get version(): number {
    return this.#version;
  }

  /** How many times the template index was rebuilt (once per `set`, `delete` or `update` that changed it). */
  get indexBuilds(): number {
    return this.#indexBuilds;
  }

  /** Changes the bound of the resolution cache (drops what is cached). */
  setMaxClones(maxClones: number): void {
    this.#cache = new BoundedCache(maxClones);
  }

  /** Resolved handles cached now. */
  get cachedKeys(): number {
    return this.#cache.size;
  }

  /** Resolves a (valid) key to its limiter, or throws UnknownLimiterError. */
  resolve(key: string): ResolvedKey {
    // An exact id wins, as in `#find`, and is answered from its entry: one lookup in the (small) map of limiters,
    // and no clone slot taken, so a working set of `max_clones` clones still fits beside the exact keys
    // (measured, 100k clones after a hot key, CPU time: `tryAcquire` 0.68–0.89M/s, against 0.53–0.55M/s).
    const exact = this.#entries.get(key);
    if (exact !== undefined) return exact.own;
    const cached = this.#cache.get(key);
    if (cached !== undefined && !cached.entry.removed) return cached;
    const entry = this.#find(key);
    if (!entry) throw new UnknownLimiterError(key);
    const resolved = new ResolvedKey(key, entry);
    this.#cache.set(key, resolved);
    return resolved;
  }

  /** Which limiter a key resolves to, without caching (for `explain`). */
  explain(key: string): LimiterEntry | undefined {
    return this.#find(key);
  }

  #find(key: string): LimiterEntry | undefined {
    const exact = this.#entries.get(key);
    if (exact) return exact;
    const template = matchTemplate(this.#templates, key);
    if (template) return this.#entries.get(template.id);
    // rate-sync (Python) compatibility: `base:rest` clones the plain limiter `base`. The longest base wins,
    // so `a:b:c` prefers limiter `a:b` over `a`.
    for (let colon = key.lastIndexOf(":"); colon > 0; colon = key.lastIndexOf(":", colon - 1)) {
      const base = this.#entries.get(key.slice(0, colon));
      if (base && !base.template) return base;
    }
    return undefined;
  }

  #rebuild(): void {
    this.#indexBuilds++;
    this.#templates = [];
    for (const entry of this.#entries.values()) if (entry.template) this.#templates.push(entry.template);
    this.#cache.clear();
  }
}
