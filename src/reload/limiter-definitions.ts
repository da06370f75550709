/**
 * @module
 * The definitions behind the registry's entries: each one validated in the running config's context (its
 * stores and defaults), and each entry's config following its DynamicConfig (an `update`, a reload, a
 * provider). Limiters configured in code are kept here too: they survive file reloads, so every reload checks
 * them again in the new file's context.
 */

import { normalizeLimiterDefinition } from "../config/load.ts";
import type { ConfigSnapshot, LimiterConfig, LimiterDefinition } from "../config/types.ts";
import type { ConfigProvider } from "../core/types.ts";
import type { StorePool } from "../decide/store-pool.ts";
import { type EntryOwner, LimiterEntry, type LimiterOrigin, type Registry } from "../limiters/registry.ts";
import { DynamicConfig, replaceDefinition, validatedDefinition } from "./dynamic-config.ts";

/** What the definitions of one instance read: its registry, its stores, and the running snapshot. */
export interface DefinitionsContext {
  /** Where `configure` puts the entries of limiters defined in code. */
  readonly registry: Registry;
  /** Stores given in code (`options.stores`) count as declared when a definition names them. */
  readonly stores: StorePool;
  /** The running snapshot (it changes with every reload). */
  readonly snapshot: () => ConfigSnapshot;
  /**
   * A provider handed a definition that does not validate (`error`, a ConfigError but for a bug): it is
   * ignored, and reported here like a reload that failed.
   */
  readonly onInvalid: (error: unknown) => void;
}

/**
 * Builds the registry's entries and keeps their configs derived from their definitions.
 *
 * @example
 * ```ts
 * const definitions = new LimiterDefinitions({ registry, stores, snapshot: () => snapshot, onInvalid });
 * const dynamic = definitions.configure("api", { rate: "100/s" });
 * ```
 */
export class LimiterDefinitions {
  readonly #context: DefinitionsContext;
  /** True while a reload hands a DynamicConfig its new definition (its config comes from the snapshot). */
  #handingOver = false;
  /** What every entry of this instance calls back: one object for all of them. */
  readonly #owner: EntryOwner = {
    validate: (id, definition) => this.validate(id, definition),
    changed: (entry, definition) => {
      // Every change of the definition (update, reload, provider) re-derives the config the next call reads.
      // A reload hands over the config its snapshot validated right after notifying: validating each
      // definition again here would double the cost of reloading a large file.
      if (!this.#handingOver) entry.config = this.validate(entry.id, definition);
    },
  };

  constructor(context: DefinitionsContext) {
    this.#context = context;
  }

  /** Validates one definition in `snapshot`'s context (the running one by default). @throws ConfigError */
  validate(id: string, definition: LimiterDefinition, snapshot = this.#context.snapshot()): LimiterConfig {
    const stores = new Map(snapshot.stores);
    for (const injected of this.#context.stores.injectedIds()) {
      if (!stores.has(injected)) stores.set(injected, { id: injected, engine: "memory", maxKeys: 1 });
    }
    return normalizeLimiterDefinition(id, definition, {
      defaults: snapshot.defaults,
      stores,
      ...(snapshot.file === undefined ? {} : { file: snapshot.file }),
    });
  }

  /**
   * Adds or replaces a limiter (or template) defined in code; with a `provider`, its definition follows the
   * provider's changes. @throws ConfigError when the definition is invalid.
   */
  configure(id: string, definition: LimiterDefinition, provider?: ConfigProvider): DynamicConfig {
    const config = this.validate(id, definition);
    const entry = this.entry(id, definition, config, "code", provider);
    this.#context.registry.set(entry);
    return entry.dynamic;
  }

  /**
   * The entry of one limiter, listening to its DynamicConfig (and `provider`). `config` is `definition`
   * validated in this instance's context already: every caller has it at hand.
   */
  entry(
    id: string,
    definition: LimiterDefinition,
    config: LimiterConfig,
    origin: LimiterOrigin,
    provider?: ConfigProvider,
  ): LimiterEntry {
    const dynamic = new DynamicConfig(definition, validatedDefinition);
    const entry = new LimiterEntry(id, config, dynamic, origin, this.#owner);
    if (provider) {
      entry.followProvider(
        provider.subscribe((next) => {
          try {
            this.validate(id, next);
          } catch (error) {
            this.#context.onInvalid(error);
            return;
          }
          dynamic[replaceDefinition](next);
        }),
      );
    }
    return entry;
  }

  /** Builds the entry of a limiter a file (or a reload of it) declares. */
  readonly fileEntry = (id: string, definition: LimiterDefinition, config: LimiterConfig): LimiterEntry =>
    this.entry(id, definition, config, "file");

  /**
   * The configs of the limiters configured in code, re-derived in `snapshot`'s context (its stores and
   * defaults). @throws ConfigError when one of them is invalid there.
   */
  codeConfigs(snapshot: ConfigSnapshot): Map<string, LimiterConfig> {
    const configs = new Map<string, LimiterConfig>();
    for (const entry of this.#context.registry.entries()) {
      if (entry.origin === "code")
        configs.set(entry.id, this.validate(entry.id, entry.dynamic.get(), snapshot));
    }
    return configs;
  }

  /**
   * Hands a reloaded entry's DynamicConfig its new definition, then runs `config`, the one the reload's
   * snapshot validated, whatever a listener did. A throwing listener becomes a process warning: the reload
   * has been applied already and goes on.
   */
  handOver(entry: LimiterEntry, definition: LimiterDefinition, config: LimiterConfig | undefined): void {
    // Only while this one definition is handed over: the entry's listener then takes the snapshot's config
    // instead of validating the definition again (it would double the cost of a large reload).
    this.#handingOver = true;
    try {
      entry.dynamic[replaceDefinition](definition);
    } catch (error) {
      process.emitWarning(error instanceof Error ? error : new Error(String(error)), {
        code: "RATE_SYNC_LISTENER_ERROR",
        detail: `A DynamicConfig listener of "${entry.id}" threw during a reload`,
      });
    } finally {
      this.#handingOver = false;
    }
    if (config) entry.config = config;
  }
}
