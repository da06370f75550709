/**
 * @module
 * The last step of loading (SPEC §2.1): a validated document normalized into a deeply frozen snapshot, and the
 * normalizer that validation hands each limiter table to as soon as it passes.
 */

import { compileLists } from "../lists/key-lists.ts";
import { deepFreeze, FrozenMap, openFrozenMap, sealMap } from "./freeze.ts";
import {
  IMPLICIT_STORE,
  type LimiterContext,
  normalizeDefaults,
  normalizeLimiter,
  normalizeOverrides,
  normalizeStore,
} from "./normalize.ts";
import type { ParsedDefaults } from "./schema.ts";
import { STEP_SIZE, type Steps } from "./steps.ts";
import type {
  ConfigSnapshot,
  DefaultsConfig,
  LimiterConfig,
  LimiterDefinition,
  StoreConfig,
} from "./types.ts";
import type { LimiterFinisher, ValidatedDocument } from "./validate.ts";

/** Normalizes a validated document into a deeply frozen snapshot; yields every STEP_SIZE limiters. */
export function* buildSnapshot(
  document: ValidatedDocument,
  file: string | undefined,
  normalizer = limiterNormalizer(),
): Steps<ConfigSnapshot> {
  const stores = new Map<string, StoreConfig>();
  for (const [id, parsed] of document.stores) stores.set(id, normalizeStore(id, parsed));
  if (stores.size === 0) stores.set(IMPLICIT_STORE.id, IMPLICIT_STORE);
  const defaults = normalizer.defaults(document.defaults);
  // Filled as they are built, then sealed: no copy of 100k entries in one piece.
  const limiters = openFrozenMap<string, LimiterConfig>();
  const definitions = openFrozenMap<string, LimiterDefinition>();
  let done = 0;
  for (const [id, limiter] of document.limiters) {
    if (++done % STEP_SIZE === 0) yield;
    limiters.set(
      id,
      limiter.config ?? normalizer.finish(id, limiter.parsed!, document.defaults, document.stores),
    );
    definitions.set(id, limiter.definition);
  }
  sealMap(limiters.map);
  sealMap(definitions.map);
  const lists = compileLists(document.lists);
  for (const store of stores.values()) deepFreeze(store);
  return Object.freeze({
    ...(file === undefined ? {} : { file }),
    ...(document.allowNoLimiters ? { allowNoLimiters: true as const } : {}),
    ...(document.overrides === undefined
      ? {}
      : { overrides: deepFreeze(normalizeOverrides(document.overrides)) }),
    ...(lists === undefined ? {} : { lists }),
    defaults: deepFreeze(defaults),
    stores: new FrozenMap(stores),
    limiters: limiters.map,
    definitions: definitions.map,
  });
}

/**
 * Normalizes limiters as validation passes them (see `LimiterFinisher`), against the defaults and store ids of
 * their document, worked out once; `defaults` gives the snapshot the very same normalized defaults.
 */
export function limiterNormalizer(): {
  finish: LimiterFinisher;
  defaults(parsed: ParsedDefaults): DefaultsConfig;
} {
  let context: LimiterContext | undefined;
  const contextOf = (parsed: ParsedDefaults, stores: ReadonlyMap<string, unknown>): LimiterContext => {
    // The store ids `buildSnapshot` gives the snapshot: the declared ones, else the implicit store.
    context ??= {
      defaults: normalizeDefaults(parsed),
      storeIds: stores.size === 0 ? [IMPLICIT_STORE.id] : [...stores.keys()],
    };
    return context;
  };
  return {
    finish: (id, parsed, defaults, stores) =>
      deepFreeze(normalizeLimiter(id, parsed, contextOf(defaults, stores))),
    defaults: (parsed) => context?.defaults ?? normalizeDefaults(parsed),
  };
}
