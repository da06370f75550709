/**
 * @module
 * The loader of a reload (#13): the same pipeline as `parseConfigFileText`, arranged so the event loop is
 * never held for long. smol-toml parses in a worker thread (see `parse-thread.ts`); interpolation,
 * validation and normalization run on this thread in slices of a few milliseconds with a turn of the event
 * loop after each. The result, and every error message, is the one `parseConfigFileText` gives.
 */

import { resolve } from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import { checkTextSteps, displayName, type LoadOptions, snapshotSteps, tomlConfigError } from "./load.ts";
import { streamedSnapshot } from "./load-streamed.ts";
import { parseTomlInThread, type ThreadParse } from "./parse-thread.ts";
import { limiterSplitPointsSteps } from "./split-points.ts";
import { runInSlices, type SliceStats } from "./steps.ts";
import type { ConfigSnapshot } from "./types.ts";

/**
 * Text from this length on (in UTF-16 units) is parsed in a worker thread; shorter text parses here in a few
 * milliseconds, less than it takes to start a thread (tens of milliseconds, more on a busy machine).
 */
export const THREAD_PARSE_FROM = 100_000;

/** How a sliced load went: for tests and measurements. */
export interface SlicedLoadStats extends SliceStats {
  /** True when smol-toml ran in a worker thread (else it ran here, in one piece). */
  parsedInThread: boolean;
  /** Messages the worker sent (the document comes in several for a large file). */
  threadMessages: number;
  /**
   * True when the file was parsed in pieces and checked as they came (see `load-streamed.ts`); false when it
   * was parsed and checked as a whole, also after the piece-by-piece path gave up.
   */
  streamed?: boolean;
}

/**
 * The snapshot of a large file whose text passed `checkTextSteps`, parsed piece by piece in a worker thread and
 * checked as the pieces come (see `load-streamed.ts`); `undefined` when the file is small, or not of a shape
 * that can be cut, or has an issue: then load it as a whole, which reports every issue.
 * @param absolute - the snapshot's `file`; `file` names it in issues.
 */
export async function streamedFileSnapshot(
  text: string,
  absolute: string,
  file: string,
  options: LoadOptions,
  stats: SlicedLoadStats = { slices: 0, parsedInThread: false, threadMessages: 0 },
): Promise<ConfigSnapshot | undefined> {
  stats.streamed = false;
  if (text.length < THREAD_PARSE_FROM) return undefined;
  const cuts = await runInSlices(limiterSplitPointsSteps(text), undefined, stats);
  if (cuts.length === 0) return undefined;
  const streamed = await streamedSnapshot(text, cuts, file, options.env ?? process.env, stats);
  if (streamed === undefined) return undefined;
  stats.streamed = true;
  stats.parsedInThread = true;
  return Object.freeze({ ...streamed, file: absolute });
}

/**
 * Like `parseConfigFileText`, without holding the event loop: parsed in a worker thread, then checked and
 * normalized in slices. Short text, or text a worker cannot parse, is parsed on this thread.
 * @throws {ConfigError}
 */
export async function parseConfigFileTextInSlices(
  text: string,
  path: string,
  options: LoadOptions = {},
  stats: SlicedLoadStats = { slices: 0, parsedInThread: false, threadMessages: 0 },
): Promise<ConfigSnapshot> {
  const cwd = options.cwd ?? process.cwd();
  const absolute = resolve(cwd, path);
  const file = displayName(absolute, cwd);
  await runInSlices(checkTextSteps(text, file), undefined, stats);
  const streamed = await streamedFileSnapshot(text, absolute, file, options, stats);
  if (streamed !== undefined) return streamed;
  const parsed: ThreadParse =
    text.length >= THREAD_PARSE_FROM
      ? await parseTomlInThread(text)
      : { kind: "unavailable", reason: "short text parses faster here" };
  let document: unknown;
  if (parsed.kind === "document") {
    document = parsed.document;
    stats.parsedInThread = true;
    stats.threadMessages = parsed.messages;
  } else if (parsed.kind === "toml-error") {
    throw tomlConfigError(parsed.error, text, file);
  } else {
    try {
      document = parseToml(text);
    } catch (error) {
      if (!(error instanceof TomlError)) throw error;
      throw tomlConfigError(error, text, file);
    }
  }
  const snapshot = await runInSlices(snapshotSteps(text, document, { ...options, file }), undefined, stats);
  return Object.freeze({ ...snapshot, file: absolute });
}
