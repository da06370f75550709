/**
 * @module
 * Watches a config file for hot reload. chokidar watches the file's **directory** (not only the file), so
 * editors' atomic saves (write a temp file, rename over), delete-and-recreate, and Kubernetes ConfigMap updates
 * (a `..data` symlink swapped to a new directory) are all seen. Bursts of events are debounced into one reload.
 * Watching never keeps the process alive: a script or a server ends as if nothing watched (the watch only
 * matters while something else keeps the process running).
 */

import { realpathSync } from "node:fs";
import { basename, dirname, sep } from "node:path";
import { type FSWatcher, watch } from "chokidar";

/**
 * How long the directory is left quiet before a burst of events counts as finished.
 * @default 50
 */
export const DEFAULT_DEBOUNCE_MS = 50;

/**
 * Watches one config file and calls `onChange` once per burst of changes.
 *
 * @example
 * ```ts
 * const watcher = new ConfigWatcher("/etc/app/rate-sync.toml", 50, () => void reload());
 * await watcher.ready;
 * // …
 * await watcher.close();
 * ```
 */
export class ConfigWatcher {
  /** Resolves once the directory is watched: changes made before then may go unseen. */
  readonly ready: Promise<void>;
  readonly #watcher: FSWatcher;
  /** Pending end of the current burst; undefined when the directory is quiet. */
  #timer: NodeJS.Timeout | undefined;
  /**
   * The file's resolved target when last checked: a ConfigMap swap changes it without any event naming the
   * file itself (only `..data` and the timestamped directories move).
   */
  #target: string | undefined;
  /** Set by `close()`: an event chokidar delivers while closing must not arm a new timer. */
  #closed = false;

  constructor(
    readonly file: string,
    readonly debounceMs: number,
    onChange: () => void,
  ) {
    const directory = dirname(file);
    const name = basename(file);
    this.#target = this.#resolve();
    const trigger = () => {
      if (this.#closed) return;
      // Every event restarts the quiet period, so a burst (temp file, rename, chmod…) gives one reload.
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        if (this.#closed) return;
        this.#target = this.#resolve();
        onChange();
      }, debounceMs);
      this.#timer.unref();
    };
    this.#watcher = watch(directory, {
      ignoreInitial: true,
      // The directory itself and one level below: enough for the ConfigMap layout (`..data/<file>`), while a
      // config living beside a large tree does not make chokidar walk it.
      depth: 1,
      // Symlinks are followed so a ConfigMap's `..data` swap shows up as a change below the directory.
      followSymlinks: true,
      // The fs.watch handles are unref'd: a watch alone must not keep a finished script from exiting.
      persistent: false,
    });
    // The file itself; the hidden entries a ConfigMap swaps (`..data`, `..2024_…`); or anything after which
    // the file resolves elsewhere (a symlink repointed by some other tool). Other files are not ours.
    const concerns = (entry: string) =>
      entry === name || entry.startsWith("..") || this.#resolve() !== this.#target;
    this.#watcher.on("all", (_event, path) => {
      if (concerns(path.startsWith(directory + sep) ? path.slice(directory.length + 1) : path)) trigger();
    });
    // chokidar drops a `change` that follows another on the same path within 50 ms (and emits nothing
    // later for it), so the last of two quick saves would be lost. The raw events of the underlying
    // fs.watch are never throttled: they name the entry that moved (`rate-sync.toml`, `..data`), and the
    // debounce above turns however many of them into one reload.
    this.#watcher.on("raw", (_event, entry) => {
      if (typeof entry === "string" && entry !== "" && concerns(basename(entry))) trigger();
    });
    this.ready = new Promise<void>((resolve) => {
      this.#watcher.once("ready", () => resolve());
    });
    // chokidar reports watch failures (EMFILE, EACCES…) as "error" events; unheard they would crash the
    // process. The file keeps its last good config either way, and `reload()` still works on demand.
    this.#watcher.on("error", () => {});
  }

  /** Stops watching and cancels a pending reload. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
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
