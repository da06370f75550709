/**
 * @module
 * Plain words for TOML syntax errors. smol-toml reports an unclosed string where it notices it, at the end of
 * the line ("control characters are not allowed in strings", since the newline is one) or at the end of the
 * file ("unfinished string"); a user needs to know where the string started.
 */

import type { TomlError } from "smol-toml";

/** What is read of a smol-toml error (also what a parse thread reports of one). */
export type TomlErrorLike = Pick<TomlError, "message" | "line" | "column">;

/** A TOML syntax problem as an issue position and message (the message without the `invalid TOML: ` prefix). */
export interface TomlProblem {
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

/** Where a string that never closes starts, and its delimiter. */
interface OpenString {
  readonly line: number;
  readonly column: number;
  readonly delimiter: string;
}

/**
 * The first string of `text` that is not closed where it must be: a `"…"` or `'…'` string at the end of its
 * line, or a `"""…"""` / `'''…'''` string at the end of the file. Comments are skipped; escapes are honoured in
 * basic strings only, as TOML does.
 */
export function findUnterminatedString(text: string): OpenString | undefined {
  let line = 1;
  let column = 1;
  let open: OpenString | undefined;
  let inComment = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === "\n") {
      if (open !== undefined && open.delimiter.length === 1) return open;
      inComment = false;
      line++;
      column = 1;
      continue;
    }
    if (open === undefined) {
      if (inComment) {
        // nothing inside a comment opens a string
      } else if (char === "#") {
        inComment = true;
      } else if (char === '"' || char === "'") {
        const triple = text.startsWith(char.repeat(3), i);
        open = { line, column, delimiter: triple ? char.repeat(3) : char };
        if (triple) {
          i += 2;
          column += 2;
        }
      }
    } else if (char === "\\" && open.delimiter[0] === '"') {
      // An escape: the next character (a quote, a backslash) does not close the string. An escaped newline
      // (line continuation of a multi-line string) still moves to the next line.
      if (text[i + 1] !== "\n") {
        i++;
        column++;
      }
    } else if (text.startsWith(open.delimiter, i)) {
      i += open.delimiter.length - 1;
      column += open.delimiter.length - 1;
      // A multi-line string may end with up to two extra quotes that belong to its content.
      while (open.delimiter.length === 3 && text[i + 1] === open.delimiter[0]) {
        i++;
        column++;
      }
      open = undefined;
    }
    column++;
  }
  return open;
}

/**
 * The problem to report for a smol-toml error: "unterminated string starting at line:col" (positioned at the
 * string's start) when an unclosed string is what the parser tripped on, else smol-toml's own first line.
 * Never includes smol-toml's code excerpt, which may show a secret.
 */
export function describeTomlError(error: TomlErrorLike, text: string): TomlProblem {
  const first = (error.message.split("\n")[0] ?? "").replace(/^Invalid TOML document:\s*/, "");
  const original = { line: error.line, column: error.column, message: first };
  if (!/control characters are not allowed in strings|unfinished string/.test(first)) return original;
  const open = findUnterminatedString(text);
  // Only when that string is where the parser stopped: a single-line string breaks on its own line.
  if (open === undefined || open.line > error.line) return original;
  if (open.delimiter.length === 1 && open.line !== error.line) return original;
  const close =
    open.delimiter.length === 1
      ? `close it with ${open.delimiter} on the same line (use ${open.delimiter.repeat(3)} for a string of several lines)`
      : `close it with ${open.delimiter}`;
  return {
    line: open.line,
    column: open.column,
    message: `unterminated string starting at ${open.line}:${open.column}: ${close}`,
  };
}
