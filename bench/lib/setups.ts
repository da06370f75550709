/**
 * @module
 * The limiters both libraries are measured with, built from one description so they match: a fixed window
 * of `points` per `durationS` seconds (rate-limiter-flexible's only algorithm; ours is `fixed_window`).
 */

import { RateSync } from "../../src/core/rate-sync.ts";

/** "Always allowed" within a run: no realistic run reaches it. */
export const OPEN_POINTS = 1_000_000_000;
/** The window of every limit, in seconds. Long enough that no run crosses more than one window edge. */
export const WINDOW_S = 3600;

/**
 * A RateSync on one store with three limiters: `hot` (open), `spread:<id>` (a template, open, one state per
 * key) and `denied` (1 per window: after the first call, every call is denied).
 *
 * @param store The store's config (its `engine`, `url`, …); its id is `s`.
 */
export function rateSyncFor(store: Record<string, unknown>): RateSync {
  return RateSync.fromConfig(configFor(store));
}

/** The config object behind {@link rateSyncFor}. */
export function configFor(store: Record<string, unknown>): Record<string, unknown> {
  const limit = (points: number) => ({
    algorithm: "fixed_window",
    limit: points,
    window: `${WINDOW_S}s`,
    store: "s",
    on_store_error: "deny",
  });
  return {
    defaults: { max_clones: 100_000 },
    stores: { s: store },
    limiters: {
      hot: limit(OPEN_POINTS),
      "spread:<id>": limit(OPEN_POINTS),
      denied: limit(1),
    },
  };
}

/** `count` distinct keys of the `spread` template, built once so no run measures string building. */
export function spreadKeys(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `spread:${i}`);
}

/** Swallows the rejection rate-limiter-flexible uses to say "denied". */
export function ignore(): void {}
