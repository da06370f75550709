/**
 * @module
 * Which limiters took calls recently, without a clock read per call: the per-limiter call counters are marked
 * once a minute by an unref'd timer, and a limiter whose count moved past the older of the last two marks took
 * calls within the last one to two minutes. A reload uses it to warn when it removes a limiter still in use.
 */

import type { LimiterCounters } from "../core/metrics.ts";

/** What is marked: anything with call counters (a registry entry). */
export interface Counted {
  readonly counters: LimiterCounters;
  /** False while nothing was counted (reading `counters` would make them): no calls. */
  readonly hasCounters?: boolean;
}

/** Time between two marks. */
export const USAGE_MARK_INTERVAL_MS = 60_000;

/** Every call counts once as allowed or denied (a shadow denial counts as allowed), or once by a list. */
function callsOf(entry: Counted): number {
  if (entry.hasCounters === false) return 0;
  const counters = entry.counters;
  return counters.allowed + counters.denied + counters.allowedByList + counters.deniedByList;
}

/** Where the entries to mark come from (a registry). */
export interface CountedSource<T extends Counted> {
  entries(): Iterable<T>;
}

/**
 * Marks of the call counters, taken every {@link USAGE_MARK_INTERVAL_MS}. The timer never keeps the process
 * alive, nor the source: it holds the source weakly and stops by itself once the source is gone (an instance
 * dropped without `close()`); `stop()` ends it at once.
 */
export class UsageMarks<T extends Counted> {
  /** Counts at the mark before last (one to two intervals ago); absent: the entry is newer than that. */
  #older = new WeakMap<T, number>();
  /** Counts at the last mark. */
  #recent = new WeakMap<T, number>();
  readonly #timer: NodeJS.Timeout;

  constructor(source: CountedSource<T>, intervalMs: number = USAGE_MARK_INTERVAL_MS) {
    const weak = new WeakRef(source);
    this.#timer = setInterval(() => {
      const live = weak.deref();
      if (live === undefined) this.stop();
      else this.#mark(live);
    }, intervalMs);
    this.#timer.unref();
  }

  /** True when `entry` took calls since the older mark: within the last one to two intervals. */
  recentlyUsed(entry: T): boolean {
    return callsOf(entry) > (this.#older.get(entry) ?? 0);
  }

  /** Stops marking. */
  stop(): void {
    clearInterval(this.#timer);
  }

  #mark(source: CountedSource<T>): void {
    const marks = new WeakMap<T, number>();
    // Entries without calls are left out (absent reads as 0): most of 100k limiters, most of the time.
    for (const entry of source.entries()) {
      const calls = callsOf(entry);
      if (calls > 0) marks.set(entry, calls);
    }
    this.#older = this.#recent;
    this.#recent = marks;
  }
}
