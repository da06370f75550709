/**
 * @module
 * Finds where a key path is written in TOML source, so config issues point at `file:line:col`. smol-toml does
 * not report positions of values, so this is a small scanner of its own: it follows table headers (`[a.b]`,
 * `[a."b:c"]`, `[[array]]`), dotted and quoted keys, and skips values (multi-line strings, arrays, inline
 * tables) without being fooled by `=` or `[` inside them. It never throws: on text it does not understand it
 * moves to the next line, and whatever it could not place is simply not located.
 */

import { MAX_NESTING } from "./issues.ts";
import { runSync, type Steps } from "./steps.ts";

/** A 1-based position in the source. */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/** Looks up a key path; falls back to the closest enclosing table that is written in the file. */
export type Locator = (path: readonly string[]) => SourcePosition | undefined;

const BARE_KEY_CHAR = /[A-Za-z0-9_-]/;
const ESCAPES: Readonly<Record<string, string>> = {
  b: "\b",
  t: "\t",
  n: "\n",
  f: "\f",
  r: "\r",
  e: "\u001b",
  '"': '"',
  "\\": "\\",
};

/** Scans `text` once and returns a locator over it. */
export function createLocator(text: string): Locator {
  const offsets = scanKeyOffsets(text);
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === "\n") lineStarts.push(i + 1);

  const toPosition = (offset: number): SourcePosition => {
    let low = 0;
    let high = lineStarts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((lineStarts[mid] ?? 0) <= offset) low = mid;
      else high = mid - 1;
    }
    return { line: low + 1, column: offset - (lineStarts[low] ?? 0) + 1 };
  };

  return (path) => {
    for (let length = path.length; length > 0; length--) {
      const offset = offsets.get(pathId(path.slice(0, length)));
      if (offset !== undefined) return toPosition(offset);
    }
    return undefined;
  };
}

function pathId(path: readonly string[]): string {
  return JSON.stringify(path);
}

/**
 * Where the first key (or table header) of more than `maxSegments` dotted segments is written, if any.
 * smol-toml takes time quadratic in the segments of one key (a header of 50,000 segments took 20 s), so the
 * loader refuses such keys before parsing. A pass over the characters picks out the lines with that many
 * dots; only when there is one does the scanner run to tell keys from dots inside strings.
 */
export function findOverlongKey(text: string, maxSegments: number): SourcePosition | undefined {
  return runSync(findOverlongKeySteps(text, maxSegments));
}

/** Characters the first pass of {@link findOverlongKeySteps} reads between two yields. */
const CHARS_PER_STEP = 1 << 16;

/** {@link findOverlongKey} as steps: the pass over the characters yields every 64k characters. */
export function* findOverlongKeySteps(text: string, maxSegments: number): Steps<SourcePosition | undefined> {
  let dots = 0;
  let suspicious = false;
  for (let i = 0; i < text.length && !suspicious; i++) {
    if (i % CHARS_PER_STEP === CHARS_PER_STEP - 1) yield;
    const ch = text.charCodeAt(i);
    if (ch === 0x2e /* . */) suspicious = ++dots >= maxSegments;
    else if (ch === 0x0a /* \n */) dots = 0;
  }
  if (!suspicious) return undefined;
  let found: number | undefined;
  scanKeyOffsets(text, (segments, offset) => {
    if (found === undefined && segments > maxSegments) found = offset;
  });
  return found === undefined ? undefined : positionIn(text, found);
}

/** The line and column of `offset` in `text`. */
function positionIn(text: string, offset: number): SourcePosition {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * Offset of the first place each key path (and every prefix of it) is written. With `onKey`, nothing is
 * recorded: `onKey` hears the number of segments and the offset of every key and header instead.
 */
function scanKeyOffsets(
  text: string,
  onKey?: (segments: number, offset: number) => void,
): Map<string, number> {
  const offsets = new Map<string, number>();
  const record = (path: readonly string[], offset: number): void => {
    // Paths deeper than the loader accepts are never looked up past that depth; recording every prefix of a
    // key of thousands of segments would cost time and memory quadratic in its length.
    if (onKey !== undefined || path.length > MAX_NESTING + 1) return;
    const id = pathId(path);
    if (!offsets.has(id)) offsets.set(id, offset);
  };
  let pos = 0;

  const peek = (ahead = 0): string | undefined => text[pos + ahead];
  const skipSpaces = (): void => {
    while (peek() === " " || peek() === "\t") pos++;
  };
  const skipToLineEnd = (): void => {
    while (pos < text.length && peek() !== "\n") pos++;
  };
  // Whitespace, newlines and comments: what may sit between the items of an array.
  const skipBlank = (): void => {
    for (;;) {
      const ch = peek();
      if (ch === " " || ch === "\t" || ch === "\r" || ch === "\n") pos++;
      else if (ch === "#") skipToLineEnd();
      else return;
    }
  };

  /** Reads a quoted string starting at `pos` (on the quote); returns its decoded text. */
  const readQuoted = (): string => {
    const quote = peek();
    pos++;
    let out = "";
    while (pos < text.length) {
      const ch = peek();
      if (ch === quote) {
        pos++;
        return out;
      }
      if (ch === "\n") return out; // unterminated: smol-toml reports it; keep scanning
      if (ch === "\\" && quote === '"') {
        const esc = peek(1) ?? "";
        if (esc === "u" || esc === "U") {
          const digits = esc === "u" ? 4 : 8;
          const code = Number.parseInt(text.slice(pos + 2, pos + 2 + digits), 16);
          out += Number.isFinite(code) ? String.fromCodePoint(code) : "";
          pos += 2 + digits;
        } else {
          out += ESCAPES[esc] ?? esc;
          pos += 2;
        }
        continue;
      }
      out += ch;
      pos++;
    }
    return out;
  };

  /** Reads a (possibly dotted, possibly quoted) key; each segment with the offset it starts at. */
  const readKey = (): { segments: string[]; starts: number[] } | undefined => {
    const segments: string[] = [];
    const starts: number[] = [];
    const keyStart = pos;
    for (;;) {
      skipSpaces();
      const start = pos;
      const ch = peek();
      if (ch === '"' || ch === "'") {
        segments.push(readQuoted());
      } else {
        while (pos < text.length && BARE_KEY_CHAR.test(peek() ?? "")) pos++;
        if (pos === start) return undefined;
        segments.push(text.slice(start, pos));
      }
      starts.push(start);
      skipSpaces();
      if (peek() !== ".") {
        onKey?.(segments.length, keyStart);
        return { segments, starts };
      }
      pos++;
    }
  };

  const recordKey = (base: readonly string[], key: { segments: string[]; starts: number[] }): string[] => {
    const path = [...base];
    key.segments.forEach((segment, index) => {
      path.push(segment);
      record(path, key.starts[index] ?? 0);
    });
    return path;
  };

  const skipMultiline = (delimiter: string): void => {
    pos += 3;
    while (pos < text.length && !text.startsWith(delimiter, pos)) {
      pos += delimiter === '"""' && peek() === "\\" ? 2 : 1;
    }
    pos += 3;
    // A closing delimiter may be followed by up to two more quotes that belong to the content.
    for (let extra = 0; extra < 2 && peek() === delimiter[0]; extra++) pos++;
  };

  /** Skips one value starting at `pos`, recording keys of inline tables and items of arrays under `path`. */
  const skipValue = (path: readonly string[], depth: number): void => {
    if (depth > 100) throw new Error("nesting too deep"); // pathological input: stop, keep what we have
    const ch = peek();
    if (text.startsWith('"""', pos) || text.startsWith("'''", pos)) {
      skipMultiline(text.slice(pos, pos + 3));
    } else if (ch === '"' || ch === "'") {
      readQuoted();
    } else if (ch === "[") {
      pos++;
      for (let index = 0; ; index++) {
        skipBlank();
        if (pos >= text.length) return;
        if (peek() === "]") {
          pos++;
          return;
        }
        const itemPath = [...path, String(index)];
        record(itemPath, pos);
        const before = pos;
        skipValue(itemPath, depth + 1);
        skipBlank();
        if (peek() === ",") pos++;
        else if (peek() !== "]" && pos === before) pos++; // garbage: make progress
      }
    } else if (ch === "{") {
      pos++;
      for (;;) {
        skipBlank();
        if (pos >= text.length) return;
        if (peek() === "}") {
          pos++;
          return;
        }
        const key = readKey();
        if (key === undefined) {
          pos++;
          continue;
        }
        const keyPath = recordKey(path, key);
        skipSpaces();
        if (peek() === "=") pos++;
        skipSpaces();
        skipValue(keyPath, depth + 1);
        skipBlank();
        if (peek() === ",") pos++;
      }
    } else {
      // Numbers, booleans, dates: up to a delimiter.
      while (pos < text.length && !/[,\]}#\r\n]/.test(peek() ?? "")) pos++;
    }
  };

  let table: string[] = [];
  try {
    while (pos < text.length) {
      skipBlank();
      if (pos >= text.length) break;
      const lineStart = pos;
      if (peek() === "[") {
        const isArrayTable = peek(1) === "[";
        pos += isArrayTable ? 2 : 1;
        const key = readKey();
        if (key !== undefined) {
          table = key.segments;
          // The header is where a table "is": point at its `[` rather than at its last key.
          const recorded = Math.min(table.length, MAX_NESTING + 1);
          for (let length = 1; length <= recorded; length++) record(table.slice(0, length), lineStart);
        }
      } else {
        const key = readKey();
        if (key !== undefined) {
          const path = recordKey(table, key);
          skipSpaces();
          if (peek() === "=") {
            pos++;
            skipSpaces();
            skipValue(path, 0);
          }
        }
      }
      // Whatever is left on the line (a comment, or text we do not understand) is skipped.
      skipToLineEnd();
    }
  } catch {
    // Keep the offsets found so far; the rest of the issues are reported without a position.
  }
  return offsets;
}
