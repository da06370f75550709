/**
 * @module
 * Public types of runtime overrides: what an override is, how it is written, what a change reports.
 */

import type { LimiterDefinition } from "../config/types.ts";
import type { DurationInput } from "../core/types.ts";

/**
 * A partial limiter definition (the `[limiters.<id>]` shape) laid over the file's. A key set to `null` removes
 * the file's value (back to its default), e.g. `{ algorithm: "fixed_window", rate: null, limit: 10, window: "1s" }`.
 */
export type OverridePatch = { readonly [K in keyof LimiterDefinition]?: LimiterDefinition[K] | null };

/** One override as stored and applied. */
export interface OverrideRecord {
  /** A limiter or template id (`api`, `api:<tenant>`), or one concrete key of a template (`api:acme`). */
  readonly id: string;
  /** What it changes. */
  readonly patch: OverridePatch;
  /** When it was written (ms since the epoch, the writer's clock). */
  readonly at: number;
  /** When it stops applying (ms since the epoch), if it expires. */
  readonly expiresAt?: number;
  /** Why (an incident, a ticket). */
  readonly reason?: string;
  /** Who wrote it. */
  readonly by?: string;
}

/** Options of `rs.overrides.set`. */
export interface OverrideSetOptions {
  /** How long it applies (`"2h"`, or seconds as a number); forever when absent. */
  readonly ttl?: DurationInput;
  /** Why (kept in the store and the history). */
  readonly reason?: string;
  /** Who (kept in the store and the history). */
  readonly by?: string;
}

/** Options of `rs.overrides.unset`. */
export interface OverrideUnsetOptions {
  readonly reason?: string;
  readonly by?: string;
}

/** What happened to an override. */
export type OverrideAction = "set" | "unset" | "expire";

/**
 * The `override` event: an override was applied, changed, removed or expired in this process (whichever
 * process wrote it).
 */
export interface OverrideEvent {
  readonly action: OverrideAction;
  /** The override's id. */
  readonly id: string;
  /** The override now applied (`set`). */
  readonly record?: OverrideRecord;
  /** The override applied before, if any. */
  readonly previous?: OverrideRecord;
}

/** One entry of the history kept in the store, newest first in `history()`. */
export interface OverrideChange {
  readonly action: OverrideAction;
  readonly id: string;
  /** When (ms since the epoch). */
  readonly at: number;
  /** The store's version after the change. */
  readonly version: number;
  /** The override written (`set`). */
  readonly record?: OverrideRecord;
  readonly reason?: string;
  readonly by?: string;
}

/** Where each value of a key's effective definition comes from. */
export type ValueSource = "file" | "code" | "default" | `override:${string}`;

/** What `rs.overrides.explain(key)` reports. */
export interface ExplainedKey {
  readonly key: string;
  /** The limiter or template the key resolves to. */
  readonly limiter: string;
  /** The definition under the overrides (the file's, or code's). */
  readonly base: LimiterDefinition;
  /** The overrides that apply, in the order they are laid on (the limiter's, then the key's). */
  readonly overrides: readonly OverrideRecord[];
  /** The definition that runs. */
  readonly effective: LimiterDefinition;
  /** For each key of `effective`, the layer it comes from. */
  readonly sources: Readonly<Record<string, ValueSource>>;
}

/** The health of the override sync in this process. */
export interface OverrideStatus {
  /** The store id, or undefined when overrides are kept in process only. */
  readonly store: string | undefined;
  /** The store version last applied (-1 before the first read). */
  readonly version: number;
  /** When the store was last read successfully (ms since the epoch), if ever. */
  readonly syncedAt?: number;
  /** The last sync error (message, secrets masked), cleared by the next success. */
  readonly lastError?: string;
  /** Overrides applied now. */
  readonly applied: number;
}
