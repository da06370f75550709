/**
 * @module
 * The override layer: the overrides applied in this process, and the config a key runs under with them.
 *
 * The layers, bottom to top: the file (or code: `configure`, `DynamicConfig.update`, a provider) gives each
 * limiter and template its definition, held by its `DynamicConfig`; the overrides of the limiter's id, then of
 * the key itself, are laid on top. A reload or a `DynamicConfig.update` replaces the bottom layer only, so
 * overrides survive it; removing an override falls back to what is under it.
 *
 * The layer sits where a call picks its config: a call whose key and limiter have no override reads the
 * limiter's config as before; one that has reads a config derived once from the definition under it and kept
 * until that definition changes (one identity check per call).
 */

import { fileIssue, formatPath } from "../config/issues.ts";
import type { LimiterConfig, LimiterDefinition } from "../config/types.ts";
import { ConfigError, isConfigError } from "../errors.ts";
import type { LimiterEntry, Registry } from "../limiters/registry.ts";
import type { OverridePatch, OverrideRecord, ValueSource } from "./types.ts";

/** Keys that say the same thing another way: setting one removes the other from the layer below. */
const ALTERNATIVES: Readonly<Record<string, readonly string[]>> = {
  rate: ["rate_per_second"],
  rate_per_second: ["rate"],
  window: ["window_seconds"],
  window_seconds: ["window"],
  on_store_error: ["fail_closed"],
  fail_closed: ["on_store_error"],
};

/**
 * `base` with `patch` laid on: a patch key replaces the base's (and its alternative spelling), `null` removes
 * it.
 */
export function layerDefinition(base: LimiterDefinition, patch: OverridePatch): LimiterDefinition {
  const merged: Record<string, unknown> = { ...base };
  for (const [name, value] of Object.entries(patch)) {
    for (const other of ALTERNATIVES[name] ?? []) delete merged[other];
    if (value === null || value === undefined) delete merged[name];
    // Defined, not assigned: a patch read from JSON may carry an own "__proto__" key (refused by the key check,
    // but never allowed to become the prototype on the way).
    else Object.defineProperty(merged, name, { value, enumerable: true, writable: true, configurable: true });
  }
  return merged as LimiterDefinition;
}

/** Validates a definition of limiter `id` in the running config. @throws ConfigError */
export type Validate = (id: string, definition: LimiterDefinition) => LimiterConfig;

/** A config derived for a key or limiter, valid while the limiter and its config are the ones it came from. */
interface Derived {
  readonly entry: LimiterEntry;
  readonly base: LimiterConfig;
  readonly config: LimiterConfig;
}

/** How the layer resolves an override target. */
export interface Target {
  /** The limiter or template the override applies to (for a key, the one the key resolves to). */
  readonly entry: LimiterEntry;
  /** True when the override names one concrete key rather than a limiter or template id. */
  readonly isKey: boolean;
}

/** The overrides applied in one process. */
export class OverrideLayer {
  readonly #registry: Registry;
  readonly #validate: Validate;
  readonly #onInvalid: (error: ConfigError) => void;
  readonly #applied = new Map<string, OverrideRecord>();
  /** Derived configs by key (key overrides) or limiter id; cleared by every change of the layer. */
  readonly #derived = new Map<string, Derived>();
  /** False while no override is applied: a call then reads its limiter's config without a lookup. */
  active = false;

  constructor(registry: Registry, validate: Validate, onInvalid: (error: ConfigError) => void) {
    this.#registry = registry;
    this.#validate = validate;
    this.#onInvalid = onInvalid;
  }

  /** The applied override with this id. */
  get(id: string): OverrideRecord | undefined {
    return this.#applied.get(id);
  }

  /** Every applied override, in the order they were applied. */
  records(): OverrideRecord[] {
    return [...this.#applied.values()];
  }

  /** Applies (or, with undefined, removes) the override `id`. */
  put(id: string, record: OverrideRecord | undefined): void {
    if (record === undefined) this.#applied.delete(id);
    else this.#applied.set(id, record);
    this.#derived.clear();
    this.active = this.#applied.size > 0;
  }

  /** The config a call of `key`, resolved to `entry`, runs under (hot path). */
  configFor(key: string, entry: LimiterEntry): LimiterConfig {
    const base = entry.config;
    const own = key === entry.id ? undefined : this.#applied.get(key);
    if (own === undefined && !this.#applied.has(entry.id)) return base;
    const cacheKey = own === undefined ? entry.id : key;
    const hit = this.#derived.get(cacheKey);
    if (hit !== undefined && hit.base === base && hit.entry === entry) return hit.config;
    let config = base;
    try {
      config = this.#validate(entry.id, this.definitionFor(key, entry).effective);
    } catch (error) {
      // It validated when it was applied; the layer below changed since (a reload, an update). The layer below
      // runs, and this is reported once per change of it (the failure is cached like a success).
      if (isConfigError(error)) this.#onInvalid(this.#named(own?.id ?? entry.id, error));
    }
    this.#derived.set(cacheKey, { entry, base, config });
    return config;
  }

  /**
   * The layers of `key` resolved to `entry`: the definition under the overrides, the overrides that apply
   * (with `extra` laid on last, or in place of the applied one of the same id), and the result.
   */
  definitionFor(
    key: string,
    entry: LimiterEntry,
    extra?: OverrideRecord,
  ): { base: LimiterDefinition; overrides: OverrideRecord[]; effective: LimiterDefinition } {
    const base = entry.dynamic.get();
    const overrides: OverrideRecord[] = [];
    const shared = extra?.id === entry.id ? extra : this.#applied.get(entry.id);
    if (shared !== undefined) overrides.push(shared);
    if (key !== entry.id) {
      const own = extra?.id === key ? extra : this.#applied.get(key);
      if (own !== undefined) overrides.push(own);
    }
    let effective = base;
    for (const record of overrides) effective = layerDefinition(effective, record.patch);
    return { base, overrides, effective };
  }

  /** What an override id names: a limiter or template, or a key that resolves to one; undefined: nothing. */
  target(id: string): Target | undefined {
    const entry = this.#registry.get(id);
    if (entry !== undefined) return { entry, isKey: false };
    const resolved = this.#registry.explain(id);
    return resolved === undefined ? undefined : { entry: resolved, isKey: true };
  }

  /**
   * Checks that `record` can apply in the running config: its id names a limiter, a template or a key, and the
   * definition it gives (laid on the others) validates as a file's limiter would. Issues are named
   * `overrides."<id>".<field>`.
   * @throws ConfigError
   */
  check(record: OverrideRecord): void {
    const target = this.target(record.id);
    if (target === undefined) {
      throw new ConfigError([
        {
          ...fileIssue(
            overrideFile(record.id),
            `no limiter, template or key pattern matches ${JSON.stringify(record.id)}`,
            "invalid_value",
          ),
          keys: ["overrides", record.id],
          path: formatPath(["overrides", record.id]),
        },
      ]);
    }
    const { entry } = target;
    try {
      this.#validate(entry.id, this.definitionFor(record.id, entry, record).effective);
    } catch (error) {
      throw isConfigError(error) ? this.#named(record.id, error) : error;
    }
  }

  /** Where each value of `effective` comes from. */
  sources(
    entry: LimiterEntry,
    overrides: readonly OverrideRecord[],
    effective: LimiterDefinition,
  ): Record<string, ValueSource> {
    const sources: Record<string, ValueSource> = {};
    const bottom: ValueSource = entry.origin === "file" ? "file" : "code";
    for (const name of Object.keys(effective)) {
      let source: ValueSource = bottom;
      for (const record of overrides) if (Object.hasOwn(record.patch, name)) source = `override:${record.id}`;
      sources[name] = source;
    }
    return sources;
  }

  /** `error` with its issues moved under `overrides."<id>"` and named after the override. */
  #named(id: string, error: ConfigError): ConfigError {
    const issues = error.issues.map((issue) => {
      // A limiter's issue is at `limiters.<id>.<field>`: the field is what the override got wrong.
      const keys = ["overrides", id, ...issue.keys.slice(2)];
      const { line: _line, column: _column, ...rest } = issue;
      return { ...rest, file: overrideFile(id), keys, path: formatPath(keys) };
    });
    return new ConfigError(issues, { cause: error });
  }
}

/** How an override is named where a file would be. */
function overrideFile(id: string): string {
  return `override ${JSON.stringify(id)}`;
}
