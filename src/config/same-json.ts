/**
 * @module
 * Whether two config values serialize to the same JSON, answered without serializing them: a reload compares
 * every limiter's old and new config and definition this way, and `JSON.stringify` of both sides was a third
 * of the time to reload 100k limiters. Values holding anything JSON treats specially (`undefined`, a
 * function, a non-finite number, a date or another class, `toJSON`) are compared by their JSON after all.
 */

type Table = Record<string, unknown>;

function isPlainTable(value: object): value is Table {
  const proto: unknown = Object.getPrototypeOf(value);
  return (proto === Object.prototype || proto === null) && !("toJSON" in value);
}

/** An array or a table whose JSON is its items or entries (no `toJSON` of its own). */
function isPlainData(value: object): boolean {
  return Array.isArray(value) ? !("toJSON" in value) : isPlainTable(value);
}

/**
 * `JSON.stringify(a) === JSON.stringify(b)`, with the same answer for every input without cycles.
 * @example sameJson({ a: 1, b: [2] }, { a: 1, b: [2] }) // true; { a: 1, b: 2 } and { b: 2, a: 1 }: false
 */
export function sameJson(a: unknown, b: unknown): boolean {
  return compare(a, b) ?? JSON.stringify(a) === JSON.stringify(b);
}

/** The answer when it is plain data all through, else `undefined`. */
function compare(a: unknown, b: unknown): boolean | undefined {
  if (typeof a === "number") {
    if (!Number.isFinite(a)) return undefined;
    return typeof b === "number" ? (Number.isFinite(b) ? a === b : undefined) : ordinary(b);
  }
  if (typeof a === "string" || typeof a === "boolean" || a === null) return a === b || ordinaryOrFalse(b);
  if (typeof a !== "object" || !isPlainData(a)) return undefined;
  if (typeof b !== "object" || b === null) return ordinaryOrFalse(b);
  if (!isPlainData(b)) return undefined;
  if (Array.isArray(a)) {
    if (!Array.isArray(b)) return false;
    // Lists of different lengths: left to JSON (a hole or an `undefined` item is written as `null`).
    if (a.length !== b.length) return undefined;
    for (let i = 0; i < a.length; i++) {
      const item = compare(a[i], b[i]);
      if (item !== true) return item;
    }
    return true;
  }
  if (Array.isArray(b)) return false;
  return compareTables(a as Table, b as Table);
}

/** {@link compare} of two plain tables: the same keys in the same order, each with the same value. */
function compareTables(a: Table, b: Table): boolean | undefined {
  const aKeys = Object.keys(a);
  const bKeys = Object.keys(b);
  // JSON leaves out keys whose value is `undefined` or a function: then the key lists say nothing.
  if (aKeys.length !== bKeys.length) return hasOmitted(a, aKeys) || hasOmitted(b, bKeys) ? undefined : false;
  for (let i = 0; i < aKeys.length; i++) {
    const key = aKeys[i]!;
    if (key !== bKeys[i]) return hasOmitted(a, aKeys) || hasOmitted(b, bKeys) ? undefined : false;
    // A key's value written differently on each side makes the whole JSON differ (each key is written once).
    const value = compare(a[key], b[key]);
    if (value !== true) return value;
  }
  return true;
}

function hasOmitted(table: Table, keys: readonly string[]): boolean {
  for (const key of keys) {
    const value = table[key];
    if (value === undefined || typeof value === "function" || typeof value === "symbol") return true;
  }
  return false;
}

/** `false` when `b` is a JSON value that differs from any primitive but itself, else `undefined`. */
function ordinaryOrFalse(b: unknown): false | undefined {
  return ordinary(b) === false ? false : undefined;
}

/** `false` when `b` is ordinary JSON data (so a primitive of another kind differs from it), else `undefined`. */
function ordinary(b: unknown): false | undefined {
  if (typeof b === "string" || typeof b === "boolean" || b === null) return false;
  if (typeof b === "number") return Number.isFinite(b) ? false : undefined;
  // An array or a table differs from a primitive only if its JSON does: always, unless it has `toJSON`.
  if (typeof b === "object" && isPlainData(b)) return false;
  return undefined;
}
