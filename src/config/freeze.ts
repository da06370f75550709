/**
 * @module
 * Immutability of snapshots: `Object.freeze` does not stop `Map#set`, so snapshot maps are {@link FrozenMap}s
 * whose mutators throw once built.
 */

// Maps that are sealed. A WeakSet rather than a private field: `Map`'s constructor calls `set()` before a
// subclass's fields exist.
const sealed = new WeakSet<object>();

/** A `Map` that throws on `set`, `delete` and `clear` once constructed. */
export class FrozenMap<K, V> extends Map<K, V> {
  constructor(entries?: Iterable<readonly [K, V]>) {
    super(entries);
    sealed.add(this);
    Object.freeze(this);
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

/** Freezes an object or array and everything reachable from it (maps become read-only through FrozenMap). */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== "object" || Object.isFrozen(value)) return value;
  for (const key of Reflect.ownKeys(value)) {
    deepFreeze((value as Record<PropertyKey, unknown>)[key]);
  }
  return Object.freeze(value);
}
