/**
 * @module
 * What a reload changes, worked out before anything is swapped: which limiters are added, removed or changed,
 * which entries take a new config, and which DynamicConfigs hear of a new definition. Planning first is what
 * lets `RateSync` apply a reload as plain assignments that cannot fail halfway.
 */

import type { ConfigSnapshot, LimiterConfig, LimiterDefinition } from "../config/types.ts";
import type { LimiterEntry, Registry } from "./registry.ts";
import type { ReloadEvent } from "./types.ts";

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** True when two snapshots configure the same things (order included): reloading one over the other is a no-op. */
export function sameSnapshot(a: ConfigSnapshot, b: ConfigSnapshot): boolean {
  return (
    sameJson(a.defaults, b.defaults) &&
    sameJson([...a.stores], [...b.stores]) &&
    sameJson([...a.limiters], [...b.limiters]) &&
    sameJson([...a.definitions], [...b.definitions])
  );
}

/** The steps of one reload. */
export interface ReloadPlan {
  /** What the `reload` event reports, ids in declaration order. */
  readonly event: ReloadEvent;
  /** New entries to register. */
  readonly create: readonly LimiterEntry[];
  /** Entries that take a new config in place (their clones follow on their next call). */
  readonly reconfigure: readonly (readonly [LimiterEntry, LimiterConfig])[];
  /** DynamicConfigs to tell of their new definition, after the swap. */
  readonly notify: readonly (readonly [LimiterEntry, LimiterDefinition])[];
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
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  const notify: [LimiterEntry, LimiterDefinition][] = [];
  const reconfigure: [LimiterEntry, LimiterConfig][] = [];
  const create: LimiterEntry[] = [];

  for (const entry of registry.entries()) {
    if (entry.origin === "file" && !snapshot.limiters.has(entry.id)) removed.push(entry.id);
    const codeConfig = codeConfigs.get(entry.id);
    if (entry.origin === "code" && codeConfig && !sameJson(entry.config, codeConfig)) {
      // Its definition is unchanged, but the file's defaults or stores it inherits did change.
      reconfigure.push([entry, codeConfig]);
      changed.push(entry.id);
    }
  }
  for (const [id, config] of snapshot.limiters) {
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
      reconfigure.push([entry, config]);
      changed.push(id);
    }
    // A definition written differently to the same effect (`rate_per_second = 10` for `rate = "10/s"`) is
    // taken too, so `dynamic(id).get()` shows the file, but it is not listed as changed: nothing runs differently.
    if (configChanged || !sameJson(entry.dynamic.get(), definition)) notify.push([entry, definition]);
  }

  // Changes are named in declaration order, whichever loop found them.
  const order = new Map([...registry.entries()].map((entry, index) => [entry.id, index]));
  changed.sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
  return { event: { added, removed, changed }, create, reconfigure, notify };
}
