/**
 * @module
 * `DynamicConfig`: the live source of one limiter's (or template's) parameters. Every limiter reads its
 * parameters from one; `update(patch)` changes them at runtime, validated with the same schema as the file,
 * and every key and clone of the limiter follows on its next decision.
 */

import { parseConfigObject } from "../config/load.ts";
import type { LimiterConfig, LimiterDefinition } from "../config/types.ts";

/** Validates a whole definition in the context it will run in; throws `ConfigError`. */
export type DefinitionValidator = (definition: LimiterDefinition) => LimiterConfig;

/** Package-internal hooks: how a RateSync instance binds and feeds a DynamicConfig. Not public API. */
export const bindValidator: unique symbol = Symbol("rate-sync.bindValidator");
/** Package-internal: replaces the definition with one validated elsewhere (a reload) and notifies. */
export const replaceDefinition: unique symbol = Symbol("rate-sync.replaceDefinition");
/** Package-internal: passed to the constructor by a RateSync whose loader has already validated the definition. */
export const validatedDefinition: unique symbol = Symbol("rate-sync.validatedDefinition");

type Listener = (definition: LimiterDefinition) => void;

function freezeDefinition(definition: LimiterDefinition): LimiterDefinition {
  return Object.freeze({ ...definition });
}

/**
 * Validates a definition on its own (a DynamicConfig not yet attached to a RateSync): the store it names is
 * assumed to exist, everything else is checked as in a file.
 */
function validateStandalone(definition: LimiterDefinition): LimiterConfig {
  const storeId = typeof definition.store === "string" ? definition.store : "memory";
  const snapshot = parseConfigObject(
    { stores: { [storeId]: { engine: "memory" } }, limiters: { standalone: definition } },
    { file: "<DynamicConfig>" },
  );
  return snapshot.limiters.get("standalone")!;
}

/**
 * The live parameters of one limiter.
 *
 * @example
 * ```ts
 * const api = rs.dynamic("api");
 * api.update({ rate: "200/s" });          // validated; every key of "api" follows at once
 * const stop = api.subscribe((def) => console.log("api is now", def));
 * ```
 */
export class DynamicConfig {
  /** The current definition, frozen: readers may keep it, it never changes under them. */
  #definition: LimiterDefinition;
  /** Validation in the context the limiter runs in (its RateSync's stores and defaults) once bound. */
  #validate: DefinitionValidator = validateStandalone;
  /**
   * One listener as it is, a Set only from the second on: a RateSync subscribes exactly one per limiter,
   * and a Set each was a tenth of the memory of 100k limiters.
   */
  #listeners: Listener | Set<Listener> | undefined;

  /** Creates a config holding `initial`, validated on its own (throws `ConfigError`). */
  constructor(initial: LimiterDefinition, trust?: typeof validatedDefinition) {
    // A RateSync builds one per limiter from definitions it has just validated in their own context: a second,
    // standalone validation each (a whole document per limiter) was most of the cost of loading a large file.
    if (trust !== validatedDefinition) validateStandalone(initial);
    // A validated definition comes frozen from its snapshot: taken as it is, not copied once more.
    this.#definition =
      trust === validatedDefinition && Object.isFrozen(initial) ? initial : freezeDefinition(initial);
  }

  /** The current definition (the `[limiters.<id>]` shape). */
  get(): LimiterDefinition {
    return this.#definition;
  }

  /**
   * Merges `patch` into the definition, validates the result with the same rules as the file and applies it.
   * A key set to `undefined` in the patch is removed (back to its default). An invalid patch throws
   * `ConfigError` and changes nothing.
   */
  update(patch: Partial<Record<keyof LimiterDefinition, unknown>>): void {
    const merged: Record<string, unknown> = { ...this.#definition };
    for (const [name, value] of Object.entries(patch)) {
      if (value === undefined) delete merged[name];
      // Defined, not assigned: a patch parsed from JSON may carry an own "__proto__" key, which assignment
      // would turn into the merged object's prototype; defined, it is an unknown key the validator names.
      else
        Object.defineProperty(merged, name, { value, enumerable: true, writable: true, configurable: true });
    }
    const next = merged as LimiterDefinition;
    this.#validate(next);
    this.#set(next);
  }

  /** Calls `listener` after every change; returns a function that unsubscribes. */
  subscribe(listener: Listener): () => void {
    const listeners = this.#listeners;
    if (listeners === undefined) this.#listeners = listener;
    else if (listeners instanceof Set) listeners.add(listener);
    else if (listeners !== listener) this.#listeners = new Set([listeners, listener]);
    return () => {
      const now = this.#listeners;
      if (now instanceof Set) now.delete(listener);
      else if (now === listener) this.#listeners = undefined;
    };
  }

  /** Package-internal: validation in the context of the RateSync the limiter belongs to. */
  [bindValidator](validate: DefinitionValidator): void {
    this.#validate = validate;
  }

  /** Package-internal: a definition validated elsewhere (reload, provider) replaces the current one. */
  [replaceDefinition](definition: LimiterDefinition): void {
    this.#set(definition);
  }

  #set(definition: LimiterDefinition): void {
    this.#definition = freezeDefinition(definition);
    const listeners = this.#listeners;
    if (listeners instanceof Set) for (const listener of [...listeners]) listener(this.#definition);
    else listeners?.(this.#definition);
  }
}
