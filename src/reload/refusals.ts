/**
 * @module
 * What a reload refuses before it plans anything, keeping the running config: a file that is missing, too
 * large, still changing or empty, and one that would remove every limiter of the file. Each of these is far
 * more often a save caught half way than what the operator meant.
 */

import { fileIssue } from "../config/issues.ts";
import { tooLargeIssue } from "../config/load.ts";
import type { ConfigSnapshot } from "../config/types.ts";
import { ConfigError } from "../errors.ts";
import type { Registry } from "../limiters/registry.ts";
import type { SettledRead } from "./settled-read.ts";

/**
 * The text a reload decides on, from the settled read of `file`. A watcher-triggered reload (`fromWatcher`)
 * gets undefined for a file missing, empty or still being written: a save in progress, whose end the watcher
 * hears and reloads then. An explicit reload is refused instead.
 * @throws ConfigError when the file is too large, or (explicit reloads) missing, unsettled or empty.
 */
export function textToReload(file: string, read: SettledRead, fromWatcher: boolean): string | undefined {
  if (read.kind === "too-large") throw new ConfigError([tooLargeIssue(file, read.bytes)]);
  const empty = read.kind === "text" && read.text.trim() === "";
  if (fromWatcher && (read.kind !== "text" || empty)) return undefined;
  if (read.kind === "missing") {
    throw new ConfigError([fileIssue(file, `the config file ${file} does not exist`)]);
  }
  if (read.kind === "unsettled") {
    throw new ConfigError([
      fileIssue(file, `the file kept changing for ${read.waitedMs} ms; the running config is kept`),
    ]);
  }
  // An empty file is valid TOML with no limiters, but as a reload it is almost surely a save caught half
  // way (a truncating write): applying it would remove every limiter. Nothing is lost instead.
  if (empty) {
    throw new ConfigError([fileIssue(file, "the file is empty; the running config is kept")]);
  }
  return read.text;
}

/**
 * A file that declares no limiter while limiters of the file run is refused unless it says
 * `allow_no_limiters = true`: it is far more often a save cut short (only `[stores]` or `[defaults]` written
 * yet) than a wish to stop limiting everything.
 * @throws ConfigError
 */
export function refuseRemovingAll(file: string, snapshot: ConfigSnapshot, registry: Registry): void {
  if (snapshot.limiters.size > 0 || snapshot.allowNoLimiters) return;
  let running = 0;
  for (const entry of registry.entries()) if (entry.origin === "file") running++;
  if (running === 0) return;
  throw new ConfigError([
    fileIssue(
      file,
      `the file declares no limiters and would remove all ${running} running limiter(s) of the file; the running config is kept (write allow_no_limiters = true before the first table to remove them all)`,
    ),
  ]);
}
