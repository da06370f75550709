/**
 * @module
 * Where a large config file can be cut into pieces that parse on their own, so a parse thread can send the
 * first limiter tables while it still parses the rest, and a reload checks them meanwhile (#13: 100k limiters
 * reload in under a second). A cut is made only where a piece parsed apart gives exactly the tables the whole
 * file gives; anything this cannot tell from lines alone makes the file one piece, parsed as a whole.
 *
 * The file must read: a head (anything, but no `limiters` key), then limiter tables to the end, each headed
 * `[limiters.<id>]`, with sub-tables `[limiters.<id>.…]` or `[[limiters.<id>.…]]` only. Cuts are made before
 * such a `[limiters.<id>]` header line. Why each piece then parses as the whole file would:
 *
 * - TOML is read from left to right. A piece that parses without an error ends where the whole file's parser
 *   is at the start of a line, outside any string, array or inline table: a cut inside a multi-line string or
 *   array leaves the piece before it unterminated, a TOML error, and then the whole file is parsed.
 * - Every header after the head is under `limiters.<id>`, so what a piece defines belongs to the ids it
 *   holds. The parse thread checks that no id appears in two pieces (nor `limiters` in the head), else it
 *   parses the whole file.
 * - Ids that look like array indices (`[limiters.42]`) would be listed first by JavaScript, not in file order
 *   as a piece-by-piece reading gives them, and ids holding `${…}` are interpolated into ids that could
 *   collide across pieces: either makes the file one piece.
 */

import { STEP_SIZE, type Steps } from "./steps.ts";

/** Limiter tables per piece: also the most a message from the parse thread carries. */
export const TABLES_PER_PIECE = 500;

// A header that starts a limiter: `[limiters.<id>]`, the id bare, "basic" without escapes, or 'literal'; then
// at most a comment. Spaces and tabs are allowed where TOML allows them. What TOML refuses in an id (a control
// character) makes its piece fail to parse, and then the whole file is parsed, which reports it.
const LIMITER_HEADER =
  /^[ \t]*\[[ \t]*limiters[ \t]*\.[ \t]*(?:([A-Za-z0-9_-]+)|"([^"\\\n]*)"|'([^'\n]*)')[ \t]*\][ \t]*(?:#[^\n]*)?\r?$/;
// A header of a limiter's sub-table, or an array of tables under `limiters`.
const UNDER_LIMITERS = /^[ \t]*\[\[?[ \t]*limiters[ \t]*\./;
// An id JavaScript orders before every other key of an object: an array index (below 2³² − 1).
const ARRAY_INDEX = /^(?:0|[1-9][0-9]{0,9})$/;

/** True for an id JavaScript lists before every other key of an object (an array index). */
export function isArrayIndex(id: string): boolean {
  return ARRAY_INDEX.test(id) && Number(id) < 2 ** 32 - 1;
}

/**
 * The offsets where `text` can be cut (each the start of a `[limiters.<id>]` line; the first ends the head),
 * one cut per {@link TABLES_PER_PIECE} tables; empty when the file is to be parsed in one piece (it does not
 * have the shape above, or it is too small for pieces to pay). Yields every few thousand lines.
 */
export function* limiterSplitPointsSteps(text: string, tablesPerPiece = TABLES_PER_PIECE): Steps<number[]> {
  const cuts: number[] = [];
  let tables = 0;
  let lines = 0;
  for (let start = 0; start < text.length; ) {
    const newline = text.indexOf("\n", start);
    const end = newline === -1 ? text.length : newline;
    if (++lines % (STEP_SIZE * 32) === 0) yield;
    // Only lines whose first character past spaces and tabs is `[` can be headers.
    let first = start;
    while (first < end && (text.charCodeAt(first) === 32 || text.charCodeAt(first) === 9)) first++;
    if (text.charCodeAt(first) === 91 /* [ */) {
      const line = text.slice(start, end);
      const header = LIMITER_HEADER.exec(line);
      if (header !== null) {
        const id = header[1] ?? header[2] ?? header[3] ?? "";
        if (isArrayIndex(id) || id.includes("$")) return [];
        if (tables % tablesPerPiece === 0) cuts.push(start);
        tables++;
      } else if (tables > 0 && !UNDER_LIMITERS.test(line)) {
        // Another table after the limiters (or a line inside a string that only looks like one).
        return [];
      }
    }
    start = end + 1;
  }
  // One piece after the head: nothing to overlap.
  return cuts.length >= 2 ? cuts : [];
}
