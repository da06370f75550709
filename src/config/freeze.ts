/**
 * @module
 * Immutability of snapshots: `Object.freeze` does not stop `Map#set`, so snapshot maps are {@link FrozenMap}s
 * whose mutators throw once built.
 */

// Maps that are sealed. A WeakSet rather than a private field: `Map`'s constructor calls `set()` before a
// subclass's fields exist.
const sealed = new WeakSet<object>();

/** Passed to the constructor: the map stays open until {@link sealMap} (for {@link openFrozenMap}). */
const OPEN: unique symbol = Symbol("open");

/** A `Map` that throws on `set`, `delete` and `clear` once constructed. */
export class FrozenMap<K, V> extends Map<K, V> {
  constructor(entries?: Iterable<readonly [K, V]>, open?: typeof OPEN) {
    super(entries);
    if (open !== OPEN) sealMap(this);
  }

  override set(key: K, value: V): this {
    if (sealed.has(this)) throw new TypeError("Cannot modify a frozen config map");
    return super.set(key, value);
  }

  override delete(_key: K): boolean {
    throw new TypeError("Cannot modify a frozen config map");
  }

  override clear(): void {
    throw new TypeError("Cannot modify a frozen config map");
  }
}

/**
 * A FrozenMap filled one entry at a time before it is sealed: copying a built `Map` of 100k limiters into a
 * FrozenMap (its constructor calls the overridden `set` per entry) held the event loop for over 100 ms in one
 * piece, and a reload fills its maps in slices.
 */
export function openFrozenMap<K, V>(): { readonly map: FrozenMap<K, V>; set(key: K, value: V): void } {
  const map = new FrozenMap<K, V>(undefined, OPEN);
  const set = Map.prototype.set;
  return {
    map,
    set(key, value) {
      if (sealed.has(map)) throw new TypeError("Cannot modify a frozen config map");
      set.call(map, key, value);
    },
  };
}

/** Seals a FrozenMap made by {@link openFrozenMap}: from now on it throws on every change. */
export function sealMap(map: FrozenMap<unknown, unknown>): void {
  sealed.add(map);
  Object.freeze(map);
}

/** Freezes an object or array and everything reachable from it (maps become read-only through FrozenMap). */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== "object" || Object.isFrozen(value)) return value;
  for (const key of Reflect.ownKeys(value)) {
    deepFreeze((value as Record<PropertyKey, unknown>)[key]);
  }
  return Object.freeze(value);
}
