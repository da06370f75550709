/**
 * @module
 * How an algorithm's state is kept in one SQLite row: as JSON text, whatever the algorithm. The states are plain
 * data (numbers, arrays, objects) except the concurrency limit's `Map` of leases, so a new algorithm whose
 * state is plain data is stored with no code here. Two shapes JSON lacks get a tagged object:
 * a `Map` → `{"$map": [[key, value], …]}`, a non-finite number → `{"$num": "Infinity"}`. Doubles keep every
 * bit (`JSON.stringify` writes the shortest text that reads back to the same number), and lone UTF-16
 * surrogates in lease ids are written as `\u` escapes, so the text is always valid UTF-8.
 */

const MAP_TAG = "$map";
const NUMBER_TAG = "$num";

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Map) return { [MAP_TAG]: [...value] };
  if (typeof value === "number" && !Number.isFinite(value)) return { [NUMBER_TAG]: String(value) };
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  if (keys.length !== 1) return value;
  if (keys[0] === MAP_TAG) return new Map((value as Record<string, [unknown, unknown][]>)[MAP_TAG]);
  if (keys[0] === NUMBER_TAG) return Number((value as Record<string, string>)[NUMBER_TAG]);
  return value;
}

/** The text of a state. */
export function encodeState(state: unknown): string {
  return JSON.stringify(state, replacer);
}

/** The state a text of {@link encodeState} stands for. */
export function decodeState(text: string): unknown {
  return JSON.parse(text, reviver);
}
