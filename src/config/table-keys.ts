/**
 * @module
 * The keys of a large table, listed once. `Object.keys` of a table of 100k limiters holds the event loop for
 * tens of milliseconds in one piece; the sliced reload builds its tables a batch at a time and records their
 * key lists as it goes, so each later pass (interpolation, validation) reads the list instead.
 */

const known = new WeakMap<object, readonly string[]>();

/**
 * Records `keys` as the keys of `table`, in `Object.keys` order. The caller guarantees that; the table must
 * not gain or lose keys afterwards.
 */
export function rememberKeys(table: object, keys: readonly string[]): void {
  known.set(table, keys);
}

/** `Object.keys(table)`, from the recorded list when there is one. */
export function keysOf(table: object): readonly string[] {
  return known.get(table) ?? Object.keys(table);
}
