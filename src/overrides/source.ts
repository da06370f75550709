/**
 * @module
 * What the override layer needs from the store that holds the overrides: read the whole set with its version,
 * write one change atomically (bounded, versioned, in the history, announced), and hear of changes. A Redis
 * store uses a hash, a counter, a list and a pub/sub channel; PostgreSQL a table and `LISTEN/NOTIFY`; without
 * `[overrides]`, they live in process.
 */

import type { OverrideChange, OverrideRecord } from "./types.ts";

/** The stored set of overrides at one version. */
export interface StoredOverrides {
  /** Bumped by every write: a process that applied this version has applied everything up to it. */
  readonly version: number;
  /** Each stored record, as found (decoded by the layer: a store is not trusted to hold valid ones). */
  readonly entries: ReadonlyMap<string, string>;
}

/** One change to write. */
export type SourceWrite =
  | { readonly action: "set"; readonly record: OverrideRecord; readonly json: string }
  | {
      readonly action: "unset" | "expire";
      readonly id: string;
      readonly at: number;
      /** `expire` removes the record only if it still expires at this instant (it was not set again). */
      readonly expiresAt?: number;
      readonly reason?: string;
      readonly by?: string;
    };

/** What a write did. */
export interface WriteResult {
  /** The version after the write (unchanged when it changed nothing). */
  readonly version: number;
  /** False when nothing was there to remove (or, for `expire`, it was set again meanwhile). */
  readonly changed: boolean;
}

/** How a source tells the layer that something may have changed. */
export interface SourceListener {
  /** A change was announced (`version` when the message carries it). */
  readonly onNotify: (version: number | undefined) => void;
  /** The subscription was (re)established: changes may have been missed meanwhile. */
  readonly onConnect: () => void;
}

/** A store of overrides. Every method may reject (the store is down); the layer keeps what it applied. */
export interface OverrideSource {
  /** What the store holds. */
  read(): Promise<StoredOverrides>;
  /** The current version only (the periodic check). */
  version(): Promise<number>;
  /**
   * Writes one change in one atomic step: bounded by `maxOverrides` (a set of a new id past it is refused with
   * `InvalidArgumentError`), the version bumped, the change prepended to the history (cut to `history`
   * entries), and announced.
   */
  write(change: SourceWrite): Promise<WriteResult>;
  /** The history, newest first, at most `limit` entries. */
  history(limit: number): Promise<OverrideChange[]>;
  /** Starts hearing of changes; resolves once subscribed (or once the first attempt failed). */
  listen(listener: SourceListener): Promise<void>;
  /** Closes its connections. */
  close(): Promise<void>;
}

/** The history entry of a write. */
export function changeOf(change: SourceWrite, version: number): OverrideChange {
  if (change.action === "set") {
    const { record } = change;
    return {
      action: "set",
      id: record.id,
      at: record.at,
      version,
      record,
      ...(record.reason === undefined ? {} : { reason: record.reason }),
      ...(record.by === undefined ? {} : { by: record.by }),
    };
  }
  return {
    action: change.action,
    id: change.id,
    at: change.at,
    version,
    ...(change.reason === undefined ? {} : { reason: change.reason }),
    ...(change.by === undefined ? {} : { by: change.by }),
  };
}
