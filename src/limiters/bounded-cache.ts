/**
 * @module
 * A bounded, approximately least-recently-used cache with O(1) hits and no reordering on the hot path: two
 * generations of `Map`s. New and recently used entries live in the young map. When an insertion makes it alone
 * fill the bound, it becomes the old map; from then on every insertion drops one entry of the old map, oldest
 * inserted first, while a hit in the old map promotes its entry back to the young one.
 *
 * So at most `maxSize` entries are held, a working set of up to `maxSize` keys stays cached in full (every hit
 * is one `Map` lookup, with no reordering), and an entry is only dropped when it was not used since its
 * generation turned old.
 */

/** A bounded cache of the most recently used entries. */
export class BoundedCache<K, V> {
  readonly #maxSize: number;
  /** Entries inserted or used since the last rotation. */
  #young = new Map<K, V>();
  /** Entries of the previous generation, dropped one by one (oldest first) as new entries come in. */
  #old = new Map<K, V>();
  /**
   * Where dropping resumes in the old map. A live iterator steps over each hole that deletes leave once; a
   * fresh iterator per drop would step over every earlier hole again. The old map never grows, so the
   * iterator pins no ever-growing chain of tables.
   */
  #oldCursor: MapIterator<K> | undefined;
  /** Entries dropped to stay within the bound, for metrics. */
  #evicted = 0;

  /** @param maxSize - most entries held at once (at least 1). */
  constructor(maxSize: number) {
    this.#maxSize = Math.max(1, Math.floor(maxSize));
  }

  /** The value for `key`, marking it recently used. */
  get(key: K): V | undefined {
    const young = this.#young.get(key);
    if (young !== undefined) return young;
    const old = this.#old.get(key);
    if (old !== undefined) {
      // A promotion moves an entry: the total stays the same, nothing needs dropping, and nothing turns (a turn
      // here would make a working set of exactly `maxSize` keys promote on every hit, 4 map operations each:
      // measured, 100k keys at `max_clones = 100000`, a third of a memory decision; `tryAcquireSync` CPU time
      // 0.65M/s with the turn, 1.3–1.5M/s without).
      this.#old.delete(key);
      this.#young.set(key, old);
    }
    return old;
  }

  /** Stores `value` under `key`. */
  set(key: K, value: V): void {
    if (this.#young.has(key)) {
      this.#young.set(key, value);
      return;
    }
    const promoted = this.#old.delete(key);
    this.#young.set(key, value);
    if (!promoted && this.#young.size + this.#old.size > this.#maxSize) {
      // Promotions filled the young generation alone (they never turn it): it turns old now, to drop from.
      if (this.#old.size === 0) this.#turn();
      this.#dropOldest();
    }
    if (this.#old.size === 0 && this.#young.size >= this.#maxSize) this.#turn();
  }

  /** Removes `key`. */
  delete(key: K): void {
    this.#young.delete(key);
    this.#old.delete(key);
  }

  /** Removes everything. */
  clear(): void {
    this.#young.clear();
    this.#old = new Map();
    this.#oldCursor = undefined;
  }

  /** Entries held now. */
  get size(): number {
    return this.#young.size + this.#old.size;
  }

  /** Entries dropped to stay within the bound, since creation. */
  get evicted(): number {
    return this.#evicted;
  }

  /**
   * The young generation becomes the old one, from which entries are dropped, oldest inserted first. An insertion
   * that fills the bound turns it before anything must go (never in the same step as a drop), so an entry used
   * just before the turn gets the chance to be promoted by its next use before the insertions that follow drop
   * the oldest entries of its generation.
   */
  #turn(): void {
    this.#old = this.#young;
    this.#young = new Map();
    this.#oldCursor = undefined;
  }

  /** Drops the oldest entry of the old generation (which is not empty while the cache is over its bound). */
  #dropOldest(): void {
    for (;;) {
      this.#oldCursor ??= this.#old.keys();
      const next = this.#oldCursor.next();
      if (next.done) {
        // Every key the cursor had not reached yet was promoted or deleted: what is left sits behind it.
        this.#oldCursor = undefined;
        continue;
      }
      if (this.#old.delete(next.value)) {
        this.#evicted += 1;
        return;
      }
    }
  }
}
