/**
 * @module
 * Environment interpolation over a parsed TOML document (SPEC §2.2): `${VAR}`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:?message}` and `$$`, in string values (also inside arrays and inline tables) and in
 * table keys (store and limiter ids). Every problem is collected; nothing stops at the first.
 */

import { MAX_NESTING, type PathIssue } from "./issues.ts";
import { runSync, STEP_SIZE, type Steps } from "./steps.ts";
import { keysOf, rememberKeys } from "./table-keys.ts";

/**
 * How deep `${…}` references may nest inside one another (`${A:-${B:-${C}}}` is 3). Each level is scanned
 * again, so without a bound a string nested thousands deep took seconds and then overflowed the stack.
 */
export const MAX_REFERENCE_NESTING = 16;

/** Environment variables to read; `undefined` values count as unset. */
export type Env = Readonly<Record<string, string | undefined>>;

/** The interpolated document and everything that went wrong. */
export interface InterpolationResult {
  /**
   * The input with every string and key interpolated: a table where something changed is a null-prototype
   * copy, one where nothing did is the input's own table.
   */
  readonly value: unknown;
  readonly issues: readonly PathIssue[];
  /**
   * Maps a path in `value` back to the path as written in the file (keys before interpolation), so issues
   * about interpolated ids can still be located in the source.
   */
  readonly sourcePath: (path: readonly string[]) => string[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/** Outcome of interpolating one string: the text, or the messages of what failed in it. */
type StringResult = { ok: true; text: string } | { ok: false; messages: string[] };

/**
 * Interpolates one string. Defaults may themselves contain references (`${A:-${B}}`), resolved only when used.
 *
 * @example
 * interpolateString("redis://${HOST:-localhost}:6379", { HOST: "cache" }); // { ok: true, text: "redis://cache:6379" }
 */
export function interpolateString(input: string, env: Env): StringResult {
  // Most strings (every id, most values) hold no `$`: taken as they are, without a character-by-character copy.
  if (!input.includes("$")) return { ok: true, text: input };
  const nesting = referenceNesting(input);
  if (nesting > MAX_REFERENCE_NESTING) {
    return {
      ok: false,
      messages: [
        `"\${" references are nested ${nesting} deep; at most ${MAX_REFERENCE_NESTING} levels are allowed`,
      ],
    };
  }
  const messages: string[] = [];
  let out = "";
  let i = 0;
  while (i < input.length) {
    const ch = input[i];
    if (ch !== "$") {
      out += ch;
      i++;
      continue;
    }
    const next = input[i + 1];
    if (next === "$") {
      out += "$";
      i += 2;
      continue;
    }
    if (next !== "{") {
      // A lone `$` (prices, regexes) is text, not a reference.
      out += "$";
      i++;
      continue;
    }
    const end = findClosingBrace(input, i + 2);
    if (end === -1) {
      messages.push(
        `unterminated "\${" in ${JSON.stringify(input)}: close it with "}" or write "$$" for a literal "$"`,
      );
      break;
    }
    const body = input.slice(i + 2, end);
    const resolved = resolveReference(body, env);
    if (resolved.ok) out += resolved.text;
    else messages.push(...resolved.messages);
    i = end + 1;
  }
  return messages.length > 0 ? { ok: false, messages } : { ok: true, text: out };
}

/** The deepest nesting of `${` in `text`, in one pass (`$$` escapes are skipped, an unclosed `${` counts). */
function referenceNesting(text: string): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x24 /* $ */) {
      const next = text.charCodeAt(i + 1);
      if (next === 0x24) i++;
      else if (next === 0x7b /* { */) {
        depth++;
        i++;
        if (depth > deepest) deepest = depth;
      }
    } else if (ch === 0x7d /* } */ && depth > 0) {
      depth--;
    }
  }
  return deepest;
}

/** Index of the `}` closing a reference whose body starts at `from`, honouring nested `${…}`; -1 if none. */
function findClosingBrace(text: string, from: number): number {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    const ch = text[i];
    if (ch === "$" && text[i + 1] === "$") {
      i++;
    } else if (ch === "$" && text[i + 1] === "{") {
      depth++;
      i++;
    } else if (ch === "}") {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

function resolveReference(body: string, env: Env): StringResult {
  const name = NAME.exec(body)?.[0];
  if (name === undefined) {
    return {
      ok: false,
      messages: [`invalid reference "\${${body}}": expected a variable name such as \${REDIS_URL}`],
    };
  }
  const rest = body.slice(name.length);
  const value = Object.hasOwn(env, name) ? env[name] : undefined;
  const isSet = value !== undefined;
  const isSetAndNonEmpty = isSet && value !== "";
  if (rest === "") {
    return isSet
      ? { ok: true, text: value }
      : {
          ok: false,
          messages: [`environment variable ${name} is not set (use \${${name}:-default} to give a default)`],
        };
  }
  if (rest.startsWith(":-")) {
    return isSetAndNonEmpty ? { ok: true, text: value } : interpolateString(rest.slice(2), env);
  }
  if (rest.startsWith("-")) {
    return isSet ? { ok: true, text: value } : interpolateString(rest.slice(1), env);
  }
  if (rest.startsWith(":?")) {
    if (isSetAndNonEmpty) return { ok: true, text: value };
    const detail = rest.slice(2);
    return {
      ok: false,
      messages: [`environment variable ${name} is not set or empty${detail === "" ? "" : `: ${detail}`}`],
    };
  }
  return {
    ok: false,
    messages: [`invalid reference "\${${body}}": after the name expected "}", ":-", "-" or ":?"`],
  };
}

function isTable(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

/**
 * Interpolates every string value and every table key of a parsed document. Values other than strings,
 * arrays and tables (numbers, booleans, dates) are kept as they are.
 *
 * @param document - The parsed TOML.
 * @param env - Variables to read. @default process.env (chosen by the caller)
 */
export function interpolateDocument(document: unknown, env: Env): InterpolationResult {
  return runSync(interpolateDocumentSteps(document, env));
}

/**
 * {@link interpolateDocument} as steps: it yields between the tables of the top two levels (every
 * `[limiters.<id>]`), so a reload can interpolate a large file in slices.
 */
export function* interpolateDocumentSteps(document: unknown, env: Env): Steps<InterpolationResult> {
  const issues: PathIssue[] = [];
  // For each output table: its interpolated keys → the keys written in the file.
  const sourceKeys = new WeakMap<object, Map<string, string>>();

  const visit = (value: unknown, path: readonly string[]): unknown => {
    if (path.length > MAX_NESTING) {
      // Only reachable with dotted keys or headers of many segments (smol-toml bounds arrays and inline tables):
      // reported once at the first level too deep, not descended (the recursion would overflow the stack).
      issues.push({
        code: "too_deep",
        path,
        message: `keys are nested ${MAX_NESTING + 1} or more levels deep; a rate-sync config needs at most a few levels (at most ${MAX_NESTING})`,
      });
      return undefined;
    }
    if (typeof value === "string") {
      // Most values hold no `$`: kept as they are, without a result object per string.
      if (!value.includes("$")) return value;
      const result = interpolateString(value, env);
      if (result.ok) return result.text;
      for (const message of result.messages) issues.push({ code: "env", path, message });
      return value;
    }
    if (Array.isArray(value)) {
      return value.map((item, index) => visit(item, [...path, String(index)]));
    }
    if (!isTable(value)) return value;
    // Kept, not copied, when nothing in it would change (most limiter tables): copying 100k tables into new
    // ones was most of the time interpolation took, and then of the collector's.
    return isUnchanged(value, path) ? value : runSync(visitTable(value, path));
  };

  /**
   * True when visiting `table` (at `path`) would change nothing: no key or string value holds a `$`, no value
   * is an array or a table, and its values are not too deep.
   */
  const isUnchanged = (table: Record<string, unknown>, path: readonly string[]): boolean => {
    if (path.length >= MAX_NESTING) return false;
    for (const key of Object.keys(table)) {
      if (key.includes("$")) return false;
      const child = table[key];
      if (typeof child === "string") {
        if (child.includes("$")) return false;
      } else if (Array.isArray(child) || isTable(child)) {
        return false;
      }
    }
    return true;
  };

  // The tables of the first two levels yield every STEP_SIZE keys; deeper ones run in one piece.
  function* visitTable(value: Record<string, unknown>, path: readonly string[]): Steps<unknown> {
    const sliced = path.length < 2;
    // Made only once a key or value changes, from the keys before it; a table where nothing changes is kept
    // as it is (the `limiters` table of most files: 100k keys copied for nothing otherwise). Null prototype:
    // ids such as `__proto__` or `constructor` are plain keys and can never reach a prototype.
    let out: Record<string, unknown> | undefined;
    // In steps too: a change in the last of 100k tables copies all the others.
    function* copyUpTo(index: number): Steps<Record<string, unknown>> {
      const copy: Record<string, unknown> = Object.create(null);
      for (let i = 0; i < index; i++) {
        if (sliced && (i + 1) % STEP_SIZE === 0) yield;
        copy[keys[i]!] = value[keys[i]!];
      }
      return copy;
    }
    // Only keys that interpolation changed are recorded (most tables have none): a map per table, and a
    // WeakMap entry per table, made loading 100k limiters markedly slower.
    let origins: Map<string, string> | undefined;
    let done = 0;
    let written = 0;
    const keys = sliced ? keysOf(value) : Object.keys(value);
    for (let index = 0; index < keys.length; index++) {
      const rawKey = keys[index]!;
      if (sliced && ++done % STEP_SIZE === 0) yield;
      let key = rawKey;
      if (rawKey.includes("$")) {
        const keyResult = interpolateString(rawKey, env);
        if (keyResult.ok) {
          key = keyResult.text;
        } else {
          for (const message of keyResult.messages)
            issues.push({ code: "env", path: [...path, rawKey], message: `in the key: ${message}` });
        }
      }
      if (key !== rawKey && out === undefined) out = yield* copyUpTo(index);
      // Without a copy every key so far is as written, and written keys are distinct.
      if (out !== undefined && Object.hasOwn(out, key)) {
        issues.push({
          code: "conflict",
          path: [...path, rawKey],
          message: `the key becomes ${JSON.stringify(key)} after interpolation, which is already used by ${JSON.stringify(origins?.get(key) ?? key)}`,
        });
        continue;
      }
      if (key !== rawKey) {
        origins ??= new Map();
        origins.set(key, rawKey);
      }
      const child = value[rawKey];
      const childPath = [...path, key];
      written++;
      const visited =
        sliced && path.length === 0 && isTable(child) && childPath.length <= MAX_NESTING
          ? yield* visitTable(child, childPath)
          : visit(child, childPath);
      if (visited !== child && out === undefined) out = yield* copyUpTo(index);
      if (out !== undefined) out[key] = visited;
    }
    if (out === undefined) {
      if (sliced && keys.length > STEP_SIZE) rememberKeys(value, keys);
      return value;
    }
    if (origins !== undefined) sourceKeys.set(out, origins);
    // Unchanged keys written in the same order: `out` lists them as `value` does.
    else if (sliced && written === keys.length && keys.length > STEP_SIZE) rememberKeys(out, keys);
    return out;
  }

  const value = isTable(document) ? yield* visitTable(document, []) : visit(document, []);
  const sourcePath = (path: readonly string[]): string[] => {
    const raw: string[] = [];
    let node: unknown = value;
    for (const key of path) {
      const origins = node !== null && typeof node === "object" ? sourceKeys.get(node) : undefined;
      raw.push(origins?.get(key) ?? key);
      node = isTable(node) || Array.isArray(node) ? (node as Record<string, unknown>)[key] : undefined;
    }
    return raw;
  };
  return { value, issues, sourcePath };
}
