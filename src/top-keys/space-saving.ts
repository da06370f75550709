/**
 * @module
 * Space-Saving (Metwally, Agrawal, El Abbadi, "Efficient Computation of Frequent and Top-k Elements in Data
 * Streams", 2005): the most frequent keys of a stream in `capacity` counters, whatever the number of keys.
 *
 * Each counter holds a key, a count and an error. A key already counted adds its weight to its count; a new
 * key, while a counter is free, takes it with error 0; once all are taken, it replaces the key of the smallest
 * count `min` and starts at `min + weight` with error `min` (it may have weighed up to `min` before).
 *
 * Guarantees, for additions of total weight `W` (the number of additions when every weight is 1): every
 * count over-estimates by at most its error, and every error is at most `W / capacity`
 * (`count - error <= true count <= count`); any key of weight more than `W / capacity` holds a counter. With
 * at most `capacity` distinct keys, every count is exact. The weighted form (Cafaro et al.) keeps the same
 * bounds because the counts always sum to `W`; {@link SpaceSaving.scale} multiplies every count, error and
 * `W` by one factor, which keeps them too (what an exponentially decayed sketch needs).
 *
 * Layout: the counts and errors live in one `Float64Array`, a 32-bit hash of each key in an `Int32Array` and
 * the keys in one array, so a counter costs its key's string plus 28 bytes. A lookup scans the hashes (tens of
 * integers, no allocation) and compares the string only on a matching hash; a `Map` index measured no faster
 * (bench/top-keys-record.ts) and tripled a limiter's heap (bench/top-keys-memory.ts: 8.0 KiB, not 2.5 KiB).
 */

/** One counted key. */
export interface SketchEntry {
  readonly key: string;
  /** Upper bound of the key's weight (how many times it was added, with weights of 1). */
  readonly count: number;
  /** How much `count` may over-estimate: the true count is in `[count - error, count]`. */
  readonly error: number;
}

/** A Space-Saving sketch of at most `capacity` keys. */
export class SpaceSaving {
  /** {@link hashKey} of each taken counter's key. */
  readonly #hashes: Int32Array;
  /** The key of each taken counter (`length` is the number taken). */
  readonly #keys: string[] = [];
  /** Counts in `[0, capacity)`, errors in `[capacity, 2 × capacity)`. */
  readonly #cells: Float64Array;
  #total = 0;
  /**
   * The counter the last {@link add} went to: a flood of one key (a client retrying its denied call) then adds
   * without hashing or scanning. See bench/top-keys-record.ts.
   */
  #last = -1;

  /** @param capacity - Counters kept; memory is about `capacity × (key length + 40 bytes)`. */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be a whole number of at least 1, got ${capacity}`);
    }
    this.#cells = new Float64Array(2 * capacity);
    this.#hashes = new Int32Array(capacity);
  }

  /** Total weight added so far (`W`; the number of additions with weights of 1). */
  get total(): number {
    return this.#total;
  }

  /** Keys held (at most `capacity`). */
  get size(): number {
    return this.#keys.length;
  }

  /**
   * The largest count a key not held may have: the smallest count once every counter is taken, else 0 (then
   * every key added is held, exactly).
   */
  get floor(): number {
    return this.#keys.length < this.capacity ? 0 : this.#cells[this.#minIndex()]!;
  }

  /**
   * Adds `weight` (default 1) to `key`. O(1) for a held key or a free counter, O(capacity) to replace one.
   * @param weight - A positive number; the caller keeps it finite.
   */
  add(key: string, weight = 1): void {
    this.#total += weight;
    const cells = this.#cells;
    const keys = this.#keys;
    const last = this.#last;
    if (last >= 0 && keys[last] === key) {
      cells[last] = cells[last]! + weight;
      return;
    }
    const hash = hashKey(key);
    const held = this.#find(key, hash);
    if (held >= 0) {
      this.#last = held;
      cells[held] = cells[held]! + weight;
      return;
    }
    if (keys.length < this.capacity) {
      const i = keys.length;
      this.#last = i;
      keys.push(key);
      this.#hashes[i] = hash;
      cells[i] = weight;
      cells[this.capacity + i] = 0;
      return;
    }
    const i = this.#minIndex();
    this.#last = i;
    keys[i] = key;
    this.#hashes[i] = hash;
    const min = cells[i]!;
    cells[this.capacity + i] = min;
    cells[i] = min + weight;
  }

  /** Multiplies every count, error and the total by `factor` (> 0); the order and the bounds stay. */
  scale(factor: number): void {
    const cells = this.#cells;
    const n = this.#keys.length;
    for (let i = 0; i < n; i++) {
      cells[i] = cells[i]! * factor;
      cells[this.capacity + i] = cells[this.capacity + i]! * factor;
    }
    this.#total *= factor;
  }

  /** The held counter of a key, if any. */
  get(key: string): SketchEntry | undefined {
    const i = this.#find(key, hashKey(key));
    return i < 0 ? undefined : { key, count: this.#cells[i]!, error: this.#cells[this.capacity + i]! };
  }

  /** Every held key, highest count first (ties by key, so the order is stable). */
  entries(): SketchEntry[] {
    const out: SketchEntry[] = [];
    for (let i = 0; i < this.#keys.length; i++) {
      out.push({ key: this.#keys[i]!, count: this.#cells[i]!, error: this.#cells[this.capacity + i]! });
    }
    return out.sort(byCount);
  }

  /** The counter holding `key` (of hash `hash`), or -1. */
  #find(key: string, hash: number): number {
    const hashes = this.#hashes;
    const n = this.#keys.length;
    for (let i = 0; i < n; i++) if (hashes[i] === hash && this.#keys[i] === key) return i;
    return -1;
  }

  /** The counter of the smallest count: a linear scan, as the capacity is small (tens) and typed. */
  #minIndex(): number {
    const cells = this.#cells;
    let at = 0;
    let min = cells[0]!;
    for (let i = 1; i < this.#keys.length; i++) {
      if (cells[i]! < min) {
        min = cells[i]!;
        at = i;
      }
    }
    return at;
  }
}

/** FNV-1a over the UTF-16 code units: a filter before the string comparison, so collisions only cost time. */
function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h | 0;
}

/** Highest count first, then by key. */
export function byCount(a: SketchEntry, b: SketchEntry): number {
  return b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}
