/**
 * @module
 * A bounded least-recently-used cache with O(1) hits and no reordering on the hot path: two generations of
 * `Map`s. New and recently used entries live in the young map; when it fills half the bound it becomes the old
 * one and the previous old one is dropped whole. A hit in the old map promotes the entry. So at most `maxSize`
 * entries are held, and an entry used at least once per half-bound of insertions is never evicted.
 */

/** A bounded cache of the most recently used entries. */
export class BoundedCache<K, V> {
  readonly #half: number;
  /** Entries inserted or used since the last rotation. */
  #young = new Map<K, V>();
  /** Entries of the previous generation, dropped whole at the next rotation. */
  #old = new Map<K, V>();
  /** Entries dropped by rotations, for metrics. */
  #evicted = 0;

  /** @param maxSize - most entries held at once (at least 2). */
  constructor(maxSize: number) {
    this.#half = Math.max(1, Math.floor(maxSize / 2));
  }

  /** The value for `key`, marking it recently used. */
  get(key: K): V | undefined {
    const young = this.#young.get(key);
    if (young !== undefined) return young;
    const old = this.#old.get(key);
    if (old !== undefined) {
      this.#old.delete(key);
      this.#insert(key, old);
    }
    return old;
  }

  /** Stores `value` under `key`. */
  set(key: K, value: V): void {
    if (this.#young.has(key)) this.#young.set(key, value);
    else {
      this.#old.delete(key);
      this.#insert(key, value);
    }
  }

  /** Removes `key`. */
  delete(key: K): void {
    this.#young.delete(key);
    this.#old.delete(key);
  }

  /** Removes everything. */
  clear(): void {
    this.#young.clear();
    this.#old.clear();
  }

  /** Entries held now. */
  get size(): number {
    return this.#young.size + this.#old.size;
  }

  /** Entries dropped to stay within the bound, since creation. */
  get evicted(): number {
    return this.#evicted;
  }

  #insert(key: K, value: V): void {
    this.#young.set(key, value);
    if (this.#young.size >= this.#half) {
      this.#evicted += this.#old.size;
      this.#old = this.#young;
      this.#young = new Map();
    }
  }
}
