/**
 * @module
 * Heavy hitters: the keys denied most per limiter over the last minutes, in bounded memory. Each limiter (or
 * template) tracked has a ring of one-minute {@link SpaceSaving} sketches; a query merges the minutes of its
 * window. At most `maxLimiters` limiters are tracked: a new one pushes out the one denied least recently.
 *
 * Error bound of a merged answer over a window with `N` denials of the limiter: for each minute, a key not
 * held may have been denied up to that minute's `floor` (0 while the minute saw at most `counters` keys).
 * `count` adds, per minute, the key's count or that floor, so it never under-estimates; `error` is how much it
 * may over-estimate (`count - error <= true <= count`), at most `N / counters`; every key denied more than
 * `N / counters` times in the window is listed. Exact when each minute saw at most `counters` distinct keys.
 *
 * Only denials are recorded, so an allowed call costs nothing here.
 */

import { byCount, type SketchEntry, SpaceSaving } from "./space-saving.ts";

/** Options of the heavy-hitter tracking of an instance (`RateSyncOptions.topKeys`). */
export interface TopKeysOptions {
  /** Counters per limiter per minute (Space-Saving's `k`). @default 32 */
  readonly counters?: number;
  /** Minutes kept, the longest window a query may ask for. @default 5 */
  readonly minutes?: number;
  /** Limiters tracked at most; the one denied least recently is dropped for a new one. @default 256 */
  readonly maxLimiters?: number;
  /** Milliseconds since the epoch (tests inject a clock). @default Date.now */
  readonly now?: () => number;
}

/** One of the keys denied most, as `rs.topKeys()` reports it. */
export interface TopKey {
  /** The key, or its SHA-256 (hex) for a limiter with `hash_keys = true`. */
  readonly key: string;
  /** Denials of the key in the window: an upper bound, exact when `error` is 0. */
  readonly count: number;
  /** How much `count` may over-estimate: the true number is in `[count - error, count]`. */
  readonly error: number;
}

/** What {@link TopKeys.snapshot} returns: JSON, what `rate-sync top` reads. */
export interface TopKeysSnapshot {
  /** Format version of this object. */
  readonly version: 1;
  /** When it was taken (ISO 8601). */
  readonly at: string;
  /** The window of every list, in minutes. */
  readonly minutes: number;
  /** Counters per limiter per minute (the error bound is denials / counters). */
  readonly counters: number;
  /** By limiter or template id: whether keys are hashes (`hash_keys`), and the keys denied most. */
  readonly limiters: Readonly<Record<string, { readonly hashed: boolean; readonly keys: readonly TopKey[] }>>;
}

const MINUTE_MS = 60_000;

interface Slot {
  /** The minute (ms since the epoch / 60000) the sketch counts; -1 when unused. */
  minute: number;
  sketch: SpaceSaving;
}

/** Validates a whole-number option. */
function wholeNumber(name: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`topKeys.${name} must be a whole number from 1 to ${max}, got ${String(value)}`);
  }
  return value;
}

/** The heavy hitters of one instance. */
export class TopKeys {
  readonly counters: number;
  readonly minutes: number;
  readonly maxLimiters: number;
  readonly #now: () => number;
  /** Rings by limiter id; Map order is the order of last use (a ring moves to the end on a new minute). */
  readonly #rings = new Map<string, Slot[]>();
  /** Whether a limiter's keys are recorded as hashes (for the snapshot to say so). */
  readonly #hashed = new Map<string, boolean>();

  /** @throws RangeError for an invalid option. */
  constructor(options: TopKeysOptions = {}) {
    this.counters = wholeNumber("counters", options.counters, 32, 10_000);
    this.minutes = wholeNumber("minutes", options.minutes, 5, 1440);
    this.maxLimiters = wholeNumber("maxLimiters", options.maxLimiters, 256, 1_000_000);
    this.#now = options.now ?? Date.now;
  }

  /** Records one denial of `key` by limiter `limiterId`; `hashed`: the key is a `hash_keys` hash. */
  record(limiterId: string, key: string, hashed: boolean): void {
    const minute = Math.floor(this.#now() / MINUTE_MS);
    let ring = this.#rings.get(limiterId);
    if (ring === undefined) {
      if (this.#rings.size >= this.maxLimiters) {
        const oldest = this.#rings.keys().next().value!;
        this.#rings.delete(oldest);
        this.#hashed.delete(oldest);
      }
      ring = [];
      for (let i = 0; i < this.minutes; i++)
        ring.push({ minute: -1, sketch: new SpaceSaving(this.counters) });
      this.#rings.set(limiterId, ring);
    }
    this.#hashed.set(limiterId, hashed);
    const slot = ring[minute % this.minutes]!;
    if (slot.minute !== minute) {
      slot.minute = minute;
      slot.sketch = new SpaceSaving(this.counters);
      // Used this minute: the last to be pushed out.
      this.#rings.delete(limiterId);
      this.#rings.set(limiterId, ring);
    }
    slot.sketch.add(key);
  }

  /**
   * The `n` keys of `limiterId` denied most in the last `minutes` minutes (the current minute included),
   * highest count first. Empty when the limiter had no denial in the window.
   */
  top(limiterId: string, n = 10, minutes = this.minutes): TopKey[] {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a whole number ≥ 0, got ${String(n)}`);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > this.minutes) {
      throw new RangeError(
        `minutes must be a whole number from 1 to ${this.minutes}, got ${String(minutes)}`,
      );
    }
    const ring = this.#rings.get(limiterId);
    if (ring === undefined || n === 0) return [];
    const current = Math.floor(this.#now() / MINUTE_MS);
    const slots = ring.filter((slot) => slot.minute > current - minutes && slot.minute <= current);
    const merged = new Map<string, { count: number; lower: number }>();
    for (const slot of slots) {
      for (const entry of slot.sketch.entries()) {
        if (!merged.has(entry.key)) merged.set(entry.key, { count: 0, lower: 0 });
      }
    }
    for (const slot of slots) {
      const floor = slot.sketch.floor;
      for (const [key, sum] of merged) {
        const held = slot.sketch.get(key);
        if (held === undefined) sum.count += floor;
        else {
          sum.count += held.count;
          sum.lower += held.count - held.error;
        }
      }
    }
    const out: SketchEntry[] = [];
    for (const [key, { count, lower }] of merged) out.push({ key, count, error: count - lower });
    return out.sort(byCount).slice(0, n);
  }

  /** Ids of the limiters tracked now. */
  limiters(): string[] {
    return [...this.#rings.keys()];
  }

  /** Every tracked limiter's top `n` over the whole window, as JSON (see {@link TopKeysSnapshot}). */
  snapshot(n = 10): TopKeysSnapshot {
    const limiters: Record<string, { hashed: boolean; keys: TopKey[] }> = Object.create(null);
    for (const id of [...this.#rings.keys()].sort()) {
      const keys = this.top(id, n);
      if (keys.length > 0) limiters[id] = { hashed: this.#hashed.get(id) ?? false, keys };
    }
    return {
      version: 1,
      at: new Date(this.#now()).toISOString(),
      minutes: this.minutes,
      counters: this.counters,
      limiters,
    };
  }
}
