/**
 * @module
 * Heavy hitters: the keys denied most per limiter over the last minutes, in bounded memory. Each limiter (or
 * template) tracked has one exponentially decayed {@link SpaceSaving} sketch: a denial of age `a` weighs
 * `exp(-a / τ)` with `τ = minutes` minutes, so a steady stream of `r` denials a minute reads `r × minutes`,
 * what a window of `minutes` minutes would count, and a burst fades to `1/e` of itself after `minutes`
 * minutes and out of the list (below {@link LISTED_FROM}) after about three times that. At most
 * `maxLimiters` limiters are tracked: a new one pushes out the one denied least recently.
 *
 * One decayed sketch instead of a ring of minute sketches keeps a limiter to `counters` keys (a few KiB), not
 * `minutes × counters`. The decay is forward decay (Cormode, Shkapenyuk, Srivastava, Xu, 2009): a denial at
 * time `t` adds `exp((t - landmark) / τ)`, a query multiplies by `exp(-(now - landmark) / τ)`, so a record
 * touches one counter; the landmark moves (one rescale of the limiter's counters) before the weights could
 * overflow.
 *
 * Error bound, with `D` the decayed number of the limiter's denials (the sum of their weights, about the
 * denials of the last `minutes` minutes): `count` never under-estimates the key's decayed denials and
 * over-estimates them by at most `error`, at most `D / counters`; every key of more than `D / counters` is
 * held. Exact (`error = 0`) for a key that took a free counter. Counts and errors are rounded to hundredths.
 *
 * Only denials are recorded, so an allowed call costs nothing here.
 */

import { SpaceSaving } from "./space-saving.ts";

/** Options of the heavy-hitter tracking of an instance (`RateSyncOptions.topKeys`). */
export interface TopKeysOptions {
  /** Counters per limiter (Space-Saving's `k`): the keys a limiter holds at most. @default 32 */
  readonly counters?: number;
  /** The decayed window: a denial `minutes` minutes old weighs `1/e` of a new one (the time constant). @default 5 */
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
  /**
   * Decayed denials of the key (each weighs `exp(-age / minutes)`; about its denials of the last `minutes`
   * minutes), rounded to hundredths: an upper bound, exact when `error` is 0.
   */
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
  /** The decayed window of every list, in minutes (the time constant of the decay). */
  readonly minutes: number;
  /** Counters per limiter (the error bound is decayed denials / counters). */
  readonly counters: number;
  /** By limiter or template id: whether keys are hashes (`hash_keys`), and the keys denied most. */
  readonly limiters: Readonly<Record<string, { readonly hashed: boolean; readonly keys: readonly TopKey[] }>>;
}

const MINUTE_MS = 60_000;

/** A decayed count below this is not listed: a single denial about three time constants old. */
export const LISTED_FROM = 0.05;

/** Past this exponent, the landmark moves (`exp(40)` ≈ 2.4e17 leaves doubles room for any count). */
const MAX_EXPONENT = 40;

interface Tracked {
  readonly sketch: SpaceSaving;
  /** Whether the keys are `hash_keys` hashes (for the snapshot to say so). */
  hashed: boolean;
  /** The time (ms) where a weight is 1; stored counts are in units of this landmark. */
  landmark: number;
  /** The minute of the last record, so a limiter moves to the end of the order once a minute, not per record. */
  minute: number;
}

/** Rounded to hundredths. */
function hundredths(value: number): number {
  return Math.round(value * 100) / 100;
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
  /** The time constant of the decay, in ms. */
  readonly #tau: number;
  /** Sketches by limiter id; Map order is the order of last use (a limiter moves to the end once a minute). */
  readonly #tracked = new Map<string, Tracked>();
  /**
   * The limiter, millisecond and weight of the last record. Another record of that limiter in that millisecond
   * needs no lookup, order move or `exp` (measured in bench/top-keys-record.ts, a denied flood of one key).
   */
  #last:
    | { readonly limiterId: string; readonly now: number; readonly tracked: Tracked; readonly weight: number }
    | undefined;

  /** @throws RangeError for an invalid option. */
  constructor(options: TopKeysOptions = {}) {
    this.counters = wholeNumber("counters", options.counters, 32, 10_000);
    this.minutes = wholeNumber("minutes", options.minutes, 5, 1440);
    this.maxLimiters = wholeNumber("maxLimiters", options.maxLimiters, 256, 1_000_000);
    this.#now = options.now ?? Date.now;
    this.#tau = this.minutes * MINUTE_MS;
  }

  /** Records one denial of `key` by limiter `limiterId`; `hashed`: the key is a `hash_keys` hash. */
  record(limiterId: string, key: string, hashed: boolean): void {
    const now = this.#now();
    const last = this.#last;
    if (
      last !== undefined &&
      last.now === now &&
      last.limiterId === limiterId &&
      last.tracked.hashed === hashed
    ) {
      // The same limiter in the same millisecond (a denied flood): its sketch and weight are already known.
      last.tracked.sketch.add(key, last.weight);
      return;
    }
    let tracked = this.#tracked.get(limiterId);
    if (tracked === undefined) {
      if (this.#tracked.size >= this.maxLimiters) {
        this.#tracked.delete(this.#tracked.keys().next().value!);
      }
      tracked = { sketch: new SpaceSaving(this.counters), hashed, landmark: now, minute: -1 };
      this.#tracked.set(limiterId, tracked);
    }
    tracked.hashed = hashed;
    const minute = Math.floor(now / MINUTE_MS);
    if (minute !== tracked.minute) {
      tracked.minute = minute;
      // Used this minute: the last to be pushed out.
      this.#tracked.delete(limiterId);
      this.#tracked.set(limiterId, tracked);
    }
    // A clock that steps back counts as standing still: a weight never exceeds the landmark's scale by much.
    let exponent = Math.max(0, now - tracked.landmark) / this.#tau;
    if (exponent > MAX_EXPONENT) {
      tracked.sketch.scale(Math.exp(-exponent));
      tracked.landmark = now;
      exponent = 0;
    }
    const weight = exponent === 0 ? 1 : Math.exp(exponent);
    this.#last = { limiterId, now, tracked, weight };
    tracked.sketch.add(key, weight);
  }

  /**
   * The `n` keys of `limiterId` denied most over the decayed window (see the module), highest count first.
   * Empty when the limiter had no denial recently enough to count {@link LISTED_FROM} or more.
   */
  top(limiterId: string, n = 10): TopKey[] {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a whole number ≥ 0, got ${String(n)}`);
    const tracked = this.#tracked.get(limiterId);
    if (tracked === undefined || n === 0) return [];
    const factor = Math.exp(-Math.max(0, this.#now() - tracked.landmark) / this.#tau);
    const out: TopKey[] = [];
    for (const entry of tracked.sketch.entries()) {
      const count = entry.count * factor;
      if (count < LISTED_FROM || out.length >= n) break;
      out.push({ key: entry.key, count: hundredths(count), error: hundredths(entry.error * factor) });
    }
    return out;
  }

  /** Ids of the limiters tracked now. */
  limiters(): string[] {
    return [...this.#tracked.keys()];
  }

  /** Every tracked limiter's top `n` over the decayed window, as JSON (see {@link TopKeysSnapshot}). */
  snapshot(n = 10): TopKeysSnapshot {
    const limiters: Record<string, { hashed: boolean; keys: TopKey[] }> = Object.create(null);
    for (const id of [...this.#tracked.keys()].sort()) {
      const keys = this.top(id, n);
      if (keys.length > 0) limiters[id] = { hashed: this.#tracked.get(id)!.hashed, keys };
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
