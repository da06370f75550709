/**
 * @module
 * `loadConfig`: finds the config file, reads it and loads it (SPEC §2.1), a large one through the parse thread.
 */

import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { ConfigError } from "../errors.ts";
import { fileIssue } from "./issues.ts";
import {
  checkText,
  displayName,
  findConfigFile,
  type LoadOptions,
  MAX_CONFIG_BYTES,
  parseConfigFileText,
  tooLargeIssue,
} from "./load.ts";
import { streamedFileSnapshot, THREAD_PARSE_FROM } from "./load-sliced.ts";
import type { ConfigSnapshot } from "./types.ts";

/**
 * Finds and loads the config file: the explicit `path`, else the search path of {@link findConfigFile}.
 *
 * @returns the snapshot, or `undefined` when no path was asked for and no file was found (limiters may then
 *   be configured in code).
 * @throws {ConfigError} when the file is invalid, or when a path that was asked for (`path` or
 *   `RATE_SYNC_CONFIG`) cannot be read.
 * @example
 * const snapshot = await loadConfig();                    // ./rate-sync.toml, if any
 * const strict = await loadConfig("config/limits.toml");  // must exist
 */
export async function loadConfig(
  path?: string,
  options: LoadOptions = {},
): Promise<ConfigSnapshot | undefined> {
  const cwd = options.cwd ?? process.cwd();
  const absolute = path === undefined ? findConfigFile(options) : resolve(cwd, path);
  if (absolute === undefined) return undefined;
  const file = displayName(absolute, cwd);
  let text: string;
  try {
    const size = statSync(absolute).size;
    if (size > MAX_CONFIG_BYTES) throw new ConfigError([tooLargeIssue(file, size)]);
    text = await readFile(absolute, "utf8");
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const reason = existsSync(absolute) ? "cannot be read" : "does not exist";
    throw new ConfigError([fileIssue(file, `the config file ${absolute} ${reason}`)], {
      cause: error,
    });
  }
  // A large file is parsed in a worker thread, piece by piece, and checked as the pieces come: 100k limiters
  // load in about four fifths of the time one piece on this thread takes (#13). A file that path gives up on
  // (an issue, a shape it cannot cut) is loaded here in one piece, the quickest way to every issue.
  if (text.length >= THREAD_PARSE_FROM) {
    checkText(text, file);
    const streamed = await streamedFileSnapshot(text, absolute, file, options);
    if (streamed !== undefined) return streamed;
  }
  return parseConfigFileText(text, absolute, options);
}
