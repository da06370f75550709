/**
 * @module
 * Parameters, states and outcomes shared by every algorithm. The pure functions in this folder are the single
 * source of rate-limiting math: the memory store runs them directly, and the Redis (Lua) and PostgreSQL (SQL)
 * stores encode the same math and are tested against them as a reference model.
 *
 * Conventions: every time is a number of milliseconds on the store's clock (fractions allowed); `cost` is a
 * positive number (an integer except for token buckets); nothing here reads a clock or keeps state.
 */

/** The rate algorithms a limiter can use. `gcra` is accepted in config as an alias of `token_bucket`. */
export type Algorithm =
  | "token_bucket"
  | "fixed_window"
  | "sliding_window"
  | "sliding_window_counter"
  | "leaky_bucket";

/** Token bucket as GCRA: capacity `burst` units, refilled continuously, one unit every `intervalMs`. */
export interface TokenBucketParams {
  readonly kind: "token_bucket";
  /** Milliseconds per unit of refill: `1000 / ratePerSecond`. */
  readonly intervalMs: number;
  /** Capacity in units (at least 1). */
  readonly burst: number;
}

/** Leaky bucket (shaping): departures `intervalMs` apart, at most `burst` units queued ahead. */
export interface LeakyBucketParams {
  readonly kind: "leaky_bucket";
  /** Milliseconds between two departures: `1000 / ratePerSecond`. */
  readonly intervalMs: number;
  /** Queue length in units (at least 1). */
  readonly burst: number;
}

/** Window algorithms: at most `limit` units per `windowMs`. */
export interface WindowParams {
  readonly kind: "fixed_window" | "sliding_window" | "sliding_window_counter";
  readonly limit: number;
  readonly windowMs: number;
}

/** Parameters of a rate algorithm. */
export type RateParams = TokenBucketParams | LeakyBucketParams | WindowParams;

/** Concurrency limit: at most `maxConcurrent` leases held at once, each expiring `leaseMs` after grant/renewal. */
export interface ConcurrencyParams {
  readonly kind: "concurrency";
  readonly maxConcurrent: number;
  readonly leaseMs: number;
}

/** Anything a store can decide on. */
export type LimitParams = RateParams | ConcurrencyParams;

/** GCRA state of token and leaky buckets: the theoretical arrival time of the next unit. */
export interface GcraState {
  readonly tat: number;
}

/** Fixed window state: the window's start (a multiple of `windowMs` since the epoch) and units used in it. */
export interface FixedWindowState {
  readonly windowStart: number;
  readonly count: number;
}

/**
 * Sliding window log: admitted calls, oldest first, as `[time, cost]` pairs flattened into one array
 * (`[t0, c0, t1, c1, …]`) so one key costs one small array rather than one object per call.
 */
export interface SlidingLogState {
  readonly entries: readonly number[];
}

/** Sliding window counter: the current fixed window and the counts of it and of the one before. */
export interface SlidingCounterState {
  readonly windowStart: number;
  readonly current: number;
  readonly previous: number;
}

/** Concurrency state: lease id → expiry time. */
export interface ConcurrencyState {
  readonly leases: ReadonlyMap<string, number>;
}

/** Inputs of one decision. */
export interface DecideInput<S> {
  /** The stored state, or `undefined` when the key has none (fresh, expired or reset). */
  readonly state: S | undefined;
  /** The store's clock, in milliseconds. */
  readonly nowMs: number;
  /** Units to consume (positive). */
  readonly cost: number;
  /**
   * How long the caller is willing to wait. `0` decides now. For token and leaky buckets a positive budget
   * lets the call **reserve** its slot: it is allowed with `waitMs > 0` and the caller sleeps that long.
   * Window algorithms ignore it (the caller retries after `retryAfterMs`).
   */
  readonly maxWaitMs: number;
}

/** What one decision concluded. */
export interface Outcome<S> {
  /** Whether the call is admitted (possibly after `waitMs`). */
  readonly allowed: boolean;
  /** Capacity: `burst`, `limit` or `maxConcurrent`. */
  readonly limit: number;
  /** Units still available right after this decision (never negative, floored to an integer). */
  readonly remaining: number;
  /** Milliseconds until the full capacity is available again (0 when it already is). */
  readonly resetAfterMs: number;
  /**
   * When denied: milliseconds until the same call (same cost) could be allowed at once; `Infinity` when it never
   * can (cost above capacity). `0` when allowed.
   */
  readonly retryAfterMs: number;
  /** When allowed with a reservation: milliseconds the caller must wait before going ahead; else `0`. */
  readonly waitMs: number;
  /** The state to store. When denied it is the input state: denied calls consume nothing. */
  readonly state: S | undefined;
  /** Milliseconds after which `state` no longer constrains anything and may be dropped (TTL). */
  readonly ttlMs: number;
}

/** What `peek` reports: the state as of now, consuming nothing. */
export interface PeekOutcome {
  readonly limit: number;
  readonly remaining: number;
  readonly resetAfterMs: number;
}

/**
 * Tolerance for float comparisons of times, in milliseconds. Epoch milliseconds as doubles carry about
 * 2.4e-4 ms of rounding, so `burst` calls at one instant must not be denied by the last bit.
 */
export const TIME_EPSILON_MS = 1e-3;
