/**
 * @module
 * What a reload changes, worked out before anything is swapped: which limiters are added, removed or changed,
 * which entries take a new config, and which DynamicConfigs hear of a new definition. Planning first is what
 * lets the `Reloader` apply a reload as plain assignments that cannot fail halfway.
 */

import { sameJson } from "../config/same-json.ts";
import { runSync, STEP_SIZE, type Steps } from "../config/steps.ts";
import type { ConfigSnapshot, LimiterConfig, LimiterDefinition } from "../config/types.ts";
import type { ReloadEvent } from "../core/types.ts";
import type { LimiterEntry, Registry } from "../limiters/registry.ts";

/** True when two snapshots configure the same things (order included): reloading one over the other is a no-op. */
export function sameSnapshot(a: ConfigSnapshot, b: ConfigSnapshot): boolean {
  return runSync(sameSnapshotSteps(a, b));
}

/** {@link sameSnapshot} as steps: it yields every STEP_SIZE limiters. */
export function* sameSnapshotSteps(a: ConfigSnapshot, b: ConfigSnapshot): Steps<boolean> {
  if (!sameJson(a.defaults, b.defaults) || !sameJson([...a.stores], [...b.stores])) return false;
  // The lists as written (their compiled matchers hold sets, which JSON does not compare).
  if (!sameJson(a.lists?.source, b.lists?.source)) return false;
  return (yield* sameEntries(a.limiters, b.limiters)) && (yield* sameEntries(a.definitions, b.definitions));
}

/** The same keys in the same order with the same JSON values (what comparing `[...a]` and `[...b]` as JSON says). */
function* sameEntries(a: ReadonlyMap<string, unknown>, b: ReadonlyMap<string, unknown>): Steps<boolean> {
  if (a.size !== b.size) return false;
  const others = b.entries();
  let done = 0;
  for (const [key, value] of a) {
    if (++done % STEP_SIZE === 0) yield;
    const other = others.next();
    if (other.done || other.value[0] !== key || !sameJson(value, other.value[1])) return false;
  }
  return true;
}

// The lists below are columns (one array each) rather than rows: an array per changed limiter, held until the
// end of the reload, was most of the 12-15 MB this and `Registry.prepareSteps` keeping its map took off the
// peak of a reload of 100k changed limiters (bench/config-load.ts).

/** Entries and the config each takes: `configs[i]` is `entries[i]`'s. */
export interface Reconfigure {
  readonly entries: LimiterEntry[];
  readonly configs: LimiterConfig[];
}

/** Entries to tell of their new definition, and the definition each held when the reload was planned. */
export interface Notify {
  readonly entries: LimiterEntry[];
  readonly definitions: LimiterDefinition[];
  readonly planned: LimiterDefinition[];
}

/** The steps of one reload. */
export interface ReloadPlan {
  /** What the `reload` event reports, ids in declaration order. */
  readonly event: ReloadEvent;
  /** New entries to register. */
  readonly create: readonly LimiterEntry[];
  /** Entries that take a new config in place (their clones follow on their next call). */
  readonly reconfigure: Reconfigure;
  /**
   * DynamicConfigs to tell of their new definition, after the swap, each with the definition it held when the
   * reload was planned (one changed in code since then keeps that change).
   */
  readonly notify: Notify;
  /** The registry's version the plan was made for (see `Registry.version`). */
  readonly registryVersion: number;
}

/**
 * Plans the move from the registry's limiters to `snapshot`'s.
 *
 * @param codeConfigs - the configs of limiters configured in code, re-derived in the new snapshot's context.
 * @param createEntry - builds the entry of a limiter the file adds.
 */
export function planReload(
  registry: Registry,
  snapshot: ConfigSnapshot,
  codeConfigs: ReadonlyMap<string, LimiterConfig>,
  createEntry: (id: string, definition: LimiterDefinition, config: LimiterConfig) => LimiterEntry,
): ReloadPlan {
  return runSync(planReloadSteps(registry, snapshot, codeConfigs, createEntry));
}

/**
 * {@link planReload} as steps: it yields every STEP_SIZE limiters. The plan holds for the registry as it was
 * when planning began: compare {@link ReloadPlan.registryVersion} with the registry's before applying it.
 */
export function* planReloadSteps(
  registry: Registry,
  snapshot: ConfigSnapshot,
  codeConfigs: ReadonlyMap<string, LimiterConfig>,
  createEntry: (id: string, definition: LimiterDefinition, config: LimiterConfig) => LimiterEntry,
): Steps<ReloadPlan> {
  const registryVersion = registry.version;
  let done = 0;
  const added: string[] = [];
  const removed: string[] = [];
  // A set filled as changes are found (built from a list at the end, it held the loop for 50 ms at 100k).
  const changed = new Set<string>();
  const notify: Notify = { entries: [], definitions: [], planned: [] };
  const reconfigure: Reconfigure = { entries: [], configs: [] };
  const create: LimiterEntry[] = [];

  for (const entry of registry.entries()) {
    if (++done % STEP_SIZE === 0) yield;
    if (entry.origin === "file" && !snapshot.limiters.has(entry.id)) removed.push(entry.id);
    const codeConfig = codeConfigs.get(entry.id);
    if (entry.origin === "code" && codeConfig && !sameJson(entry.config, codeConfig)) {
      // Its definition is unchanged, but the file's defaults or stores it inherits did change.
      reconfigure.entries.push(entry);
      reconfigure.configs.push(codeConfig);
      changed.add(entry.id);
    }
  }
  for (const [id, config] of snapshot.limiters) {
    if (++done % STEP_SIZE === 0) yield;
    const definition = snapshot.definitions.get(id);
    if (definition === undefined) continue; // the loader pairs every limiter with its definition
    const entry = registry.get(id);
    if (!entry) {
      create.push(createEntry(id, definition, config));
      added.push(id);
      continue;
    }
    // A limiter configured in code under the same id wins over the file (it survives reloads).
    if (entry.origin !== "file") continue;
    const configChanged = !sameJson(entry.config, config);
    if (configChanged) {
      reconfigure.entries.push(entry);
      reconfigure.configs.push(config);
      changed.add(id);
    }
    // A definition written differently to the same effect (`rate_per_second = 10` for `rate = "10/s"`) is
    // taken too, so `dynamic(id).get()` shows the file, but it is not listed as changed: nothing runs differently.
    const current = entry.dynamic.get();
    if (configChanged || !sameJson(current, definition)) {
      notify.entries.push(entry);
      notify.definitions.push(definition);
      notify.planned.push(current);
    }
  }

  // Changes are named in declaration order, whichever loop found them.
  // Changed ids are all in the registry: its order, read in steps (a map and a sort of 100k ids held the
  // event loop for tens of milliseconds).
  const ordered: string[] = [];
  if (changed.size > 0) {
    for (const entry of registry.entries()) {
      if (++done % STEP_SIZE === 0) yield;
      if (changed.has(entry.id)) ordered.push(entry.id);
    }
  }
  return { event: { added, removed, changed: ordered }, create, reconfigure, notify, registryVersion };
}
