/**
 * @module
 * Counters per limiter or template id (never per raw key, so cardinality stays bounded by the config).
 * Plain number fields incremented on the hot path: no allocation per decision.
 */

/** Count, sum and maximum of waits, in milliseconds. */
export interface WaitStats {
  count: number;
  sumMs: number;
  maxMs: number;
}

/** Counters of one limiter or template. */
export interface LimiterCounters {
  /** Calls allowed (including shadow-mode calls that would have been denied). */
  allowed: number;
  /**
   * Calls denied: `tryAcquire()` denials, and `acquire()` calls that gave up (timeout or store error). Each call
   * counts once: the tries of an `acquire()` that waits and then goes ahead count as one allowed call.
   */
  denied: number;
  /** Calls a shadow limiter would have denied but let through. */
  shadowDenied: number;
  /** `acquire()` calls that had to wait before being allowed. */
  waited: number;
  /** `acquire()` calls rejected because the wait would pass their timeout. */
  timeouts: number;
  /** Waits of `acquire()` calls. */
  waitMs: WaitStats;
  /** Store calls that failed for this limiter. */
  storeErrors: number;
  /** Denials answered by the local over-limit cache without a store round trip. */
  localCacheHits: number;
  /** Decisions not made by a healthy store (`degraded` set). */
  degraded: number;
  /** Calls admitted by the allow list of `[lists]` without asking a store (not counted in `allowed`). */
  allowedByList: number;
  /** Calls refused by the deny list of `[lists]` without asking a store (not counted in `denied`). */
  deniedByList: number;
  /**
   * Gauge, not a counter: `acquire()` calls of this process waiting now (queued behind other waiters, sleeping
   * until a retry hint, or through a reservation).
   */
  waiting: number;
  /**
   * Gauge, not a counter: concurrency slots (`max_concurrent`) this process holds now — leases handed out and
   * not released yet. A lease never released stays counted here (its slot expires in the store after `lease`).
   */
  activeLeases: number;
}

/** A snapshot of every counter (`rs.metrics()`). */
export interface MetricsSnapshot {
  /** Counters by limiter or template id. */
  readonly limiters: Readonly<Record<string, Readonly<LimiterCounters>>>;
  /** Successful reloads. */
  readonly reloads: number;
  /** Reloads rejected because the new config was invalid. */
  readonly reloadErrors: number;
  /** Per store: `keys` for memory stores, plus whatever the store reports. */
  readonly stores: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** Fresh zeroed counters. */
export function createCounters(): LimiterCounters {
  return {
    allowed: 0,
    denied: 0,
    shadowDenied: 0,
    waited: 0,
    timeouts: 0,
    waitMs: { count: 0, sumMs: 0, maxMs: 0 },
    storeErrors: 0,
    localCacheHits: 0,
    degraded: 0,
    allowedByList: 0,
    deniedByList: 0,
    waiting: 0,
    activeLeases: 0,
  };
}

/** A copy of counters, safe to hand out. */
export function copyCounters(counters: LimiterCounters): LimiterCounters {
  return { ...counters, waitMs: { ...counters.waitMs } };
}

/** Records one completed wait. */
export function recordWait(counters: LimiterCounters, waitedMs: number): void {
  counters.waited++;
  counters.waitMs.count++;
  counters.waitMs.sumMs += waitedMs;
  if (waitedMs > counters.waitMs.maxMs) counters.waitMs.maxMs = waitedMs;
}
