/**
 * @module
 * Ways a config file changes on disk, as real tools do it, and bounded waiting for their effect.
 */

import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A fresh temp directory for one test. */
export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "rate-sync-"));
}

/** Writes `text` as `rate-sync.toml` in a fresh temp directory; `remove()` deletes the directory. */
export function tempConfigFile(text: string): { readonly file: string; remove(): void } {
  const dir = tempDir();
  const file = join(dir, "rate-sync.toml");
  writeFileSync(file, text);
  return { file, remove: () => removeDir(dir) };
}

/** How a file is saved. */
export type SavePattern = "in-place" | "atomic-rename" | "delete-recreate" | "configmap";

/** Every {@link SavePattern}, for `it.each`. */
export const SAVE_PATTERNS: readonly SavePattern[] = [
  "in-place",
  "atomic-rename",
  "delete-recreate",
  "configmap",
];

/**
 * A config file in `dir` named `rate-sync.toml`, written with one save pattern. For `configmap`, the layout
 * is the one the kubelet builds: `rate-sync.toml -> ..data/rate-sync.toml`, `..data -> ..<timestamp>/`.
 */
export class ConfigFile {
  readonly path: string;
  #version = 0;

  constructor(
    readonly dir: string,
    readonly pattern: SavePattern,
    initial: string,
  ) {
    this.path = join(dir, "rate-sync.toml");
    if (pattern === "configmap") {
      const first = this.#newDataDir(initial);
      symlinkSync(first, join(dir, "..data"));
      symlinkSync(join("..data", "rate-sync.toml"), this.path);
    } else {
      writeFileSync(this.path, initial);
    }
  }

  /** Saves `text` the way this file's pattern does. */
  save(text: string): void {
    switch (this.pattern) {
      case "in-place":
        writeFileSync(this.path, text);
        return;
      case "atomic-rename": {
        // What vim (backupcopy=no), VS Code and most libraries' "atomic write" do.
        const temp = join(this.dir, `.rate-sync.toml.${++this.#version}.tmp`);
        writeFileSync(temp, text);
        renameSync(temp, this.path);
        return;
      }
      case "delete-recreate":
        unlinkSync(this.path);
        writeFileSync(this.path, text);
        return;
      case "configmap": {
        // The kubelet's atomic writer: a new timestamped directory, a new `..data_tmp` link renamed over
        // `..data`, then the old directory removed. The file's own symlink is never touched.
        const dataLink = join(this.dir, "..data");
        const old = readlinkSync(dataLink);
        const next = this.#newDataDir(text);
        const tmpLink = join(this.dir, "..data_tmp");
        symlinkSync(next, tmpLink);
        renameSync(tmpLink, dataLink);
        rmSync(join(this.dir, old), { recursive: true, force: true });
        return;
      }
    }
  }

  #newDataDir(text: string): string {
    const name = `..2024_01_01_00_00_${String(++this.#version).padStart(2, "0")}.${process.pid}`;
    const dir = join(this.dir, name);
    mkdirSync(dir);
    writeFileSync(join(dir, "rate-sync.toml"), text);
    return name;
  }
}

/** Removes a temp directory made by {@link tempDir}. */
export function removeDir(dir: string): void {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}

/**
 * Polls `predicate` every 10 ms until it holds; rejects after `timeoutMs` naming what was awaited.
 * A bound on waiting, never an assertion about speed.
 */
export async function waitFor(what: string, predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Lets the watcher settle after a change: long enough for any late event of the same burst (chokidar's
 * atomic-save handling holds an unlink up to 100 ms) to have produced a reload, so a test can then check
 * that it did NOT. Not a timing assertion: only gives a wrong extra reload the chance to show up.
 */
export function settle(ms = 400): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
