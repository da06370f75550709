/**
 * @module
 * Space-Saving (Metwally, Agrawal, El Abbadi, "Efficient Computation of Frequent and Top-k Elements in Data
 * Streams", 2005): the most frequent keys of a stream in `capacity` counters, whatever the number of keys.
 *
 * Each counter holds a key, a count and an error. A key already counted adds to its count; a new key, while
 * a counter is free, takes it with error 0; once all are taken, it replaces the key of the smallest count
 * `min` and starts at `min + 1` with error `min` (it may have been seen up to `min` times before).
 *
 * Guarantees, for a stream of `N` additions: every count over-estimates by at most its error, and every
 * error is at most `N / capacity` (`count - error <= true count <= count`); any key seen more than
 * `N / capacity` times holds a counter. With at most `capacity` distinct keys, every count is exact.
 */

/** One counted key. */
export interface SketchEntry {
  readonly key: string;
  /** Upper bound of how many times the key was added. */
  readonly count: number;
  /** How much `count` may over-estimate: the true count is in `[count - error, count]`. */
  readonly error: number;
}

interface Counter {
  count: number;
  error: number;
}

/** A Space-Saving sketch of at most `capacity` keys. */
export class SpaceSaving {
  readonly #counters = new Map<string, Counter>();
  #total = 0;

  /** @param capacity - Counters kept; memory is about `capacity × (key length + 64 bytes)`. */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be a whole number of at least 1, got ${capacity}`);
    }
  }

  /** Additions so far (`N`). */
  get total(): number {
    return this.#total;
  }

  /** Keys held (at most `capacity`). */
  get size(): number {
    return this.#counters.size;
  }

  /**
   * The largest count a key not held may have: the smallest count once every counter is taken, else 0 (then
   * every key added is held, exactly).
   */
  get floor(): number {
    if (this.#counters.size < this.capacity) return 0;
    let min = Number.POSITIVE_INFINITY;
    for (const counter of this.#counters.values()) if (counter.count < min) min = counter.count;
    return min;
  }

  /** Counts one occurrence of `key`. O(1) for a held key or a free counter, O(capacity) to replace one. */
  add(key: string): void {
    this.#total++;
    const held = this.#counters.get(key);
    if (held !== undefined) {
      held.count++;
      return;
    }
    if (this.#counters.size < this.capacity) {
      this.#counters.set(key, { count: 1, error: 0 });
      return;
    }
    // A linear scan: the capacity is small (tens), and only a key not held pays for it.
    let minKey: string | undefined;
    let min: Counter | undefined;
    for (const [k, counter] of this.#counters) {
      if (min === undefined || counter.count < min.count) {
        min = counter;
        minKey = k;
      }
    }
    this.#counters.delete(minKey!);
    this.#counters.set(key, { count: min!.count + 1, error: min!.count });
  }

  /** The held counter of a key, if any. */
  get(key: string): SketchEntry | undefined {
    const counter = this.#counters.get(key);
    return counter === undefined ? undefined : { key, count: counter.count, error: counter.error };
  }

  /** Every held key, highest count first (ties by key, so the order is stable). */
  entries(): SketchEntry[] {
    const out: SketchEntry[] = [];
    for (const [key, counter] of this.#counters)
      out.push({ key, count: counter.count, error: counter.error });
    return out.sort(byCount);
  }
}

/** Highest count first, then by key. */
export function byCount(a: SketchEntry, b: SketchEntry): number {
  return b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}
