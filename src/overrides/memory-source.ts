/**
 * @module
 * Overrides kept in process: used when the config has no `[overrides]` table, or names a memory store. Nothing
 * is shared with other processes; everything else (validation, expiry, history, events) works the same.
 */

import { InvalidArgumentError } from "../errors.ts";
import {
  changeOf,
  type OverrideSource,
  type SourceListener,
  type SourceWrite,
  type StoredOverrides,
  type WriteResult,
} from "./source.ts";
import type { OverrideChange } from "./types.ts";

/** An in-process {@link OverrideSource}. */
export class MemorySource implements OverrideSource {
  readonly #entries = new Map<string, string>();
  /** Newest last. */
  readonly #history: OverrideChange[] = [];
  #version = 0;
  #listener: SourceListener | undefined;

  constructor(
    readonly maxOverrides: number,
    readonly historySize: number,
  ) {}

  async read(): Promise<StoredOverrides> {
    return { version: this.#version, entries: new Map(this.#entries) };
  }

  async version(): Promise<number> {
    return this.#version;
  }

  async write(change: SourceWrite): Promise<WriteResult> {
    if (change.action === "set") {
      const id = change.record.id;
      if (!this.#entries.has(id) && this.#entries.size >= this.maxOverrides) {
        throw new InvalidArgumentError(
          `override "${id}" refused: ${this.maxOverrides} overrides exist already (max_overrides)`,
        );
      }
      this.#entries.set(id, change.json);
    } else {
      const json = this.#entries.get(change.id);
      if (json === undefined) return { version: this.#version, changed: false };
      if (
        change.action === "expire" &&
        (JSON.parse(json) as { expiresAt?: number }).expiresAt !== change.expiresAt
      ) {
        return { version: this.#version, changed: false };
      }
      this.#entries.delete(change.id);
    }
    this.#version++;
    this.#history.push(changeOf(change, this.#version));
    if (this.#history.length > this.historySize)
      this.#history.splice(0, this.#history.length - this.historySize);
    const listener = this.#listener;
    const version = this.#version;
    if (listener) queueMicrotask(() => listener.onNotify(version));
    return { version, changed: true };
  }

  async history(limit: number): Promise<OverrideChange[]> {
    return this.#history.slice(-limit).reverse();
  }

  async listen(listener: SourceListener): Promise<void> {
    this.#listener = listener;
    listener.onConnect();
  }

  async close(): Promise<void> {
    this.#listener = undefined;
  }
}
