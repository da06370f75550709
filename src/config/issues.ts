/**
 * @module
 * Issues as the loader's stages produce them: a path of table keys and a message. `load.ts` turns them into
 * `ConfigIssue`s with the file name and a line and column found by `locate.ts`.
 */

import type { ConfigIssue, ConfigIssueCode } from "../errors.ts";

/** One problem found by a loader stage, before it is given a file position. */
export interface PathIssue {
  /** What kind of problem it is. */
  readonly code: ConfigIssueCode;
  /** Keys from the document root, e.g. `["limiters", "api", "rate"]`; empty for file-level problems. */
  readonly path: readonly string[];
  /** What is wrong, in words a user can act on. Never contains a secret. */
  readonly message: string;
}

/**
 * At most this many issues are listed in a ConfigError (its `issues` and its message); the rest are counted
 * in one last issue, "… and 12,345 more issues". A file of 260k broken limiters built an 81 MB message.
 */
export const MAX_LISTED_ISSUES = 100;

/**
 * How many keys deep a document may nest (`limiters.api.rate` is 3). Deeper documents are refused with one
 * issue: walking a dotted key of thousands of segments overflowed the stack before this bound.
 */
export const MAX_NESTING = 32;

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/**
 * Formats a key path the way TOML would write it: `limiters.api.rate`, quoting keys that are not bare
 * (`limiters."api:<tenant>".rate`), so a user can search the file for it.
 */
export function formatPath(path: readonly string[]): string {
  let out = "";
  for (const key of path) {
    // An item of an array (`limits[1]`) follows its key without a dot.
    if (ARRAY_INDEX.test(key)) out += key;
    else out += `${out === "" ? "" : "."}${BARE_KEY.test(key) ? key : JSON.stringify(key)}`;
  }
  return out;
}

/** A path segment naming an item of an array, as {@link indexSegment} writes it. */
const ARRAY_INDEX = /^\[\d+\]$/;

/** The path segment of item `i` of an array: `[i]`, written after its key (`limits[0]`). */
export function indexSegment(i: number): string {
  return `[${i}]`;
}

/** Quotes a list of names for a message: `"a", "b" or "c"`. */
export function quoteList(names: readonly string[], conjunction = "or"): string {
  const quoted = names.map((name) => JSON.stringify(name));
  if (quoted.length <= 1) return quoted.join("");
  return `${quoted.slice(0, -1).join(", ")} ${conjunction} ${quoted.at(-1)}`;
}

/**
 * An issue about the file as a whole (no key path): missing, unreadable, too large, and the like.
 *
 * @example throw new ConfigError([fileIssue("rate-sync.toml", "the file is empty")])
 */
export function fileIssue(file: string, message: string, code: ConfigIssueCode = "file"): ConfigIssue {
  return { code, file, path: "", keys: [], message };
}
