/**
 * @module
 * The fast path of loading and reloading a large file (#13): the parse thread sends the file's limiter tables
 * piece by piece (see `split-points.ts`) and each batch is interpolated, validated and normalized as it
 * arrives, so this thread's work overlaps the parse instead of waiting for it.
 *
 * It only ever gives a snapshot for a file without a single issue, and then the very snapshot the whole-file
 * path gives: the same head, the same tables in the same order, each checked by the same functions against
 * the same head. Anything else (an issue, a piece that does not fit, an id this path does not take) makes it
 * give up, and the caller loads the file as a whole, which words every issue exactly as a load does.
 */

import { setImmediate as nextTurn } from "node:timers/promises";
import { buildSnapshot, limiterNormalizer } from "./build-snapshot.ts";
import { interpolateDocumentSteps } from "./interpolate.ts";
import type { PathIssue } from "./issues.ts";
import { ParseThread } from "./parse-thread.ts";
import { isArrayIndex } from "./split-points.ts";
import { runInSlices, type SliceStats } from "./steps.ts";
import type { ConfigSnapshot } from "./types.ts";
import { isTable, type ValidatedLimiter, validateHead, validateLimiterTablesSteps } from "./validate.ts";

/**
 * The snapshot of `text`, parsed in pieces cut at `cuts`, or `undefined` when this path cannot give it (see
 * above): then load the text as a whole.
 * @param file - as issues name it; the snapshot's `file` is set by the caller.
 * @param stats - slices and messages are counted in it.
 */
export async function streamedSnapshot(
  text: string,
  cuts: readonly number[],
  file: string,
  env: Record<string, string | undefined>,
  stats?: SliceStats & { threadMessages: number },
): Promise<ConfigSnapshot | undefined> {
  const thread = new ParseThread(text, cuts);
  try {
    const first = await thread.read();
    if (first.kind !== "head" || !first.split) return undefined;
    const head = await runInSlices(interpolateDocumentSteps(first.document, env), undefined, stats);
    if (head.issues.length > 0 || !isTable(head.value)) return undefined;
    const validated = validateHead(head.value);
    if (validated.issues.length > 0) return undefined;
    const normalizer = limiterNormalizer();
    const limiters = new Map<string, ValidatedLimiter>();
    const issues: PathIssue[] = [];
    for (;;) {
      const message = await thread.read();
      if (message.kind === "end") break;
      if (message.kind !== "tables") return undefined;
      const batch: Record<string, unknown> = Object.create(null);
      const ids: string[] = [];
      for (const [id, table] of message.tables) {
        // Interpolated ids could collide with ids of other batches, and array indices are listed first by
        // JavaScript (the whole file's order): both are left to the whole-file path.
        if (id.includes("$") || isArrayIndex(id)) return undefined;
        batch[id] = table;
        ids.push(id);
      }
      const interpolated = await runInSlices(
        interpolateDocumentSteps({ limiters: batch }, env),
        undefined,
        stats,
      );
      if (interpolated.issues.length > 0) return undefined;
      const tables = (interpolated.value as { limiters: Record<string, unknown> }).limiters;
      await runInSlices(
        validateLimiterTablesSteps(tables, ids, validated.head, limiters, issues, normalizer.finish),
        undefined,
        stats,
      );
      if (issues.length > 0) return undefined;
      // A turn of the event loop after each batch: otherwise the next message, handed over within the same
      // turn, would be checked within it too, and so on for as long as the thread keeps up.
      await nextTurn();
    }
    return await runInSlices(
      buildSnapshot({ ...validated.head.value, limiters }, file, normalizer),
      undefined,
      stats,
    );
  } finally {
    thread.close();
    if (stats) stats.threadMessages = thread.messages;
  }
}
