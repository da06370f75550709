/**
 * @module
 * `DynamicConfig`: the live source of one limiter's (or template's) parameters. Every limiter reads its
 * parameters from one; `update(patch)` changes them at runtime, validated with the same schema as the file,
 * and every key and clone of the limiter follows on its next decision.
 */

import { parseConfigObject } from "../config/load.ts";
import type { LimiterConfig, LimiterDefinition } from "../config/types.ts";

/**
 * Package-internal: what a RateSync binds to each DynamicConfig it builds (the registry entry of the limiter).
 * An object with two methods rather than two closures: a closure, its context and an array of unsubscribe
 * functions per limiter were about 500 bytes of every limiter's memory.
 */
export interface DynamicOwner {
  /** Validates a whole definition in the context the limiter runs in; throws `ConfigError`. */
  validateDefinition(definition: LimiterDefinition): LimiterConfig;
  /** Hears of every change of the definition, before any subscriber, until {@link unbindOwner}. */
  definitionChanged(definition: LimiterDefinition): void;
}

/** Package-internal hooks: how a RateSync instance binds and feeds a DynamicConfig. Not public API. */
export const bindOwner: unique symbol = Symbol("rate-sync.bindOwner");
/** Package-internal: the owner stops hearing of changes (its entry was removed); it still validates. */
export const unbindOwner: unique symbol = Symbol("rate-sync.unbindOwner");
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
  /** The RateSync entry bound to it: validation in its context (its stores and defaults), and its listener. */
  #owner: DynamicOwner | undefined;
  /** False once the owner stopped listening ({@link unbindOwner}). */
  #ownerListens = false;
  /**
   * One listener as it is, a Set only from the second on: most limiters have none or one (a RateSync's own
   * entry is the owner, not a listener), and a Set each was a tenth of the memory of 100k limiters.
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
    if (this.#owner === undefined) validateStandalone(next);
    else this.#owner.validateDefinition(next);
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

  /** Package-internal: binds the RateSync entry of the limiter (validation in its context, first listener). */
  [bindOwner](owner: DynamicOwner): void {
    this.#owner = owner;
    this.#ownerListens = true;
  }

  /** Package-internal: the bound entry stops listening (validation stays in its context). */
  [unbindOwner](): void {
    this.#ownerListens = false;
  }

  /** Package-internal: a definition validated elsewhere (reload, provider) replaces the current one. */
  [replaceDefinition](definition: LimiterDefinition): void {
    this.#set(definition);
  }

  #set(definition: LimiterDefinition): void {
    this.#definition = freezeDefinition(definition);
    // The owner first: it subscribed first when it was a listener like the others.
    if (this.#ownerListens) this.#owner?.definitionChanged(this.#definition);
    const listeners = this.#listeners;
    if (listeners instanceof Set) for (const listener of [...listeners]) listener(this.#definition);
    else listeners?.(this.#definition);
  }
}
