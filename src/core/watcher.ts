/**
 * @module
 * Watches a config file for hot reload. chokidar watches the file's **directory** (not only the file), so
 * editors' atomic saves (write a temp file, rename over), delete-and-recreate, and Kubernetes ConfigMap updates
 * (a `..data` symlink swapped to a new directory) are all seen. Bursts of events are debounced into one reload.
 */

import { realpathSync } from "node:fs";
import { basename, dirname } from "node:path";
import { type FSWatcher, watch } from "chokidar";

/** Watches one config file and calls `onChange` once per burst of changes. */
export class ConfigWatcher {
  readonly #watcher: FSWatcher;
  #timer: NodeJS.Timeout | undefined;
  /** The file's resolved target last seen: a symlink swap changes it without touching the link itself. */
  #target: string | undefined;

  constructor(
    readonly file: string,
    readonly debounceMs: number,
    onChange: () => void,
  ) {
    const directory = dirname(file);
    const name = basename(file);
    this.#target = this.#resolve();
    const trigger = () => {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#target = this.#resolve();
        onChange();
      }, debounceMs);
    };
    this.#watcher = watch(directory, {
      ignoreInitial: true,
      depth: 1,
      // Symlinks are followed so a ConfigMap's `..data` swap shows up as a change below the directory.
      followSymlinks: true,
    });
    this.#watcher.on("all", (_event, path) => {
      // Only the file itself, or the hidden directories a ConfigMap swaps (`..data`, `..2024_…`).
      const relative = path.slice(directory.length + 1);
      if (relative === name || relative.startsWith("..") || this.#resolve() !== this.#target) trigger();
    });
  }

  /** Stops watching and cancels a pending reload. */
  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#watcher.close();
  }

  #resolve(): string | undefined {
    try {
      return realpathSync(this.file);
    } catch {
      return undefined;
    }
  }
}
