/**
 * @module
 * Parameters, states and outcomes shared by every algorithm. The pure functions in this folder are the single
 * source of rate-limiting math: the memory store runs them directly, and the Redis (Lua) and PostgreSQL (SQL)
 * stores encode the same math and are tested against them as a reference model.
 *
 * Each algorithm lives in its own folder (`token-bucket/`, …) with its state type, and is listed once in
 * `registry.ts`; the types here are the ones every algorithm shares.
 *
 * Conventions: every time is a number of milliseconds on the store's clock (fractions allowed); `cost` is a
 * positive number (an integer except for token buckets); nothing here reads a clock or keeps state.
 */

import type { ALGORITHMS } from "./registry.ts";

/**
 * The rate algorithms a limiter can use: the keys of the registry (`src/algorithms/registry.ts`). `gcra` is
 * accepted in config as an alias of `token_bucket`.
 */
export type Algorithm = keyof typeof ALGORITHMS;

/**
 * How an algorithm is parameterised: `bucket` (a rate and a capacity), `window` (a limit per window) or `adaptive`
 * (a limit per window and the tuning of its burst cap). The family decides the config fields, the params shape,
 * the two numbers sent to Redis and PostgreSQL, and the state tag.
 */
export type Family = "bucket" | "window" | "adaptive";

/** The algorithms of one family. */
export type AlgorithmOf<F extends Family> = {
  [K in Algorithm]: (typeof ALGORITHMS)[K]["family"] extends F ? K : never;
}[Algorithm];

/** Bucket shape: capacity `burst` units, one unit (refilled or drained) every `intervalMs`. */
export interface BucketShape {
  /** Milliseconds per unit: `1000 / ratePerSecond`. */
  readonly intervalMs: number;
  /** Capacity (token bucket) or queue length (leaky bucket) in units (at least 1). */
  readonly burst: number;
}

/** Window shape: at most `limit` units per `windowMs`. */
export interface WindowShape {
  readonly limit: number;
  readonly windowMs: number;
}

/** Which limit of a limiter's `limits = [...]` a rate part is, so that each keeps a state of its own. */
export interface LimitPartIndex {
  /**
   * The limit's place in `limits` from 1 for the second limit on; absent for the first (and for a limiter with
   * one rate part), so that the first limit keeps the state a single rate part has. Part of the state tag.
   */
  readonly part?: number;
}

/** Parameters of a bucket algorithm `K`. */
export interface BucketParams<K extends string = AlgorithmOf<"bucket">> extends BucketShape, LimitPartIndex {
  readonly kind: K;
}

/** Parameters of a window algorithm `K` (all window algorithms by default). */
export interface WindowParams<K extends string = AlgorithmOf<"window">> extends WindowShape, LimitPartIndex {
  readonly kind: K;
}

/** The params of algorithm `K` of family `F`. */
export type ParamsOf<K extends string, F extends Family> = F extends "bucket"
  ? BucketParams<K>
  : F extends "adaptive"
    ? AdaptiveParams<K>
    : WindowParams<K>;

/** Parameters of the adaptive hybrid: a limit per window and the tuning of its burst cap (`adaptive/decide.ts`). */
export interface AdaptiveParams<K extends string = "adaptive"> extends WindowShape, LimitPartIndex {
  readonly kind: K;
  /** Largest burst cap, as a multiple of `limit` (at least 1). */
  readonly burstMultiplier: number;
  /** The span the load is measured over, in ms. */
  readonly adaptiveWindowMs: number;
  /** Load (a fraction of the base rate) at and above which the cap is at its lowest. */
  readonly highLoad: number;
  /** Load at and below which the cap is at its largest. */
  readonly lowLoad: number;
  /** How much of the largest cap is taken away at high load, in `[0, 1]`. */
  readonly penalty: number;
}

/** Token bucket as GCRA: capacity `burst` units, refilled continuously, one unit every `intervalMs`. */
export type TokenBucketParams = BucketParams<"token_bucket">;

/** Leaky bucket (shaping): departures `intervalMs` apart, at most `burst` units queued ahead. */
export type LeakyBucketParams = BucketParams<"leaky_bucket">;

/** Parameters of a rate algorithm, one member per registry entry. */
export type RateParams = { [K in Algorithm]: ParamsOf<K, (typeof ALGORITHMS)[K]["family"]> }[Algorithm];

/** Concurrency limit: at most `maxConcurrent` leases held at once, each expiring `leaseMs` after grant/renewal. */
export interface ConcurrencyParams {
  readonly kind: "concurrency";
  readonly maxConcurrent: number;
  readonly leaseMs: number;
}

/** Anything a store can decide on. */
export type LimitParams = RateParams | ConcurrencyParams;

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

export type { AdaptiveState } from "./adaptive/decide.ts";
export type { FixedWindowState } from "./fixed-window/decide.ts";
export type { GcraState } from "./gcra.ts";
export type { SlidingWindowState as SlidingLogState } from "./sliding-window/decide.ts";
export type { SlidingCounterState } from "./sliding-window-counter/decide.ts";
