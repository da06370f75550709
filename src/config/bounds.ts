/**
 * @module
 * The documented range of every number a config (or a call) may give rate-sync, in one place: the schema, the
 * cross-key rules, the call-argument checks and the README table all read these constants.
 *
 * Why these bounds: every store computes a decision with IEEE doubles (TypeScript, Lua in Redis, `double
 * precision` in PostgreSQL) on epoch milliseconds near 1.8e12, then turns a TTL into a Redis `PEXPIRE` (whole
 * ms) or a PostgreSQL `interval`, and Node arms its timers with a 32-bit delay. Inside these ranges every
 * intermediate value is a normal, finite double (PostgreSQL raises an error on a `float8` overflow or underflow
 * where JavaScript and Lua go on with `Infinity` or `0`), every TTL fits both stores, every timer fits Node, and
 * one unit of a bucket still moves its timestamp by several ulps of "now" — so the three stores compute the same
 * decision bit for bit, and that decision means what the config says.
 */

/** One day in milliseconds. */
const DAY_MS = 86_400_000;

/** The longest delay a Node timer takes (2^31 − 1 ms, about 24.8 days); longer ones fire after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The longest limiter duration (`window`, `lease`, a rate's period, the time to refill a bucket, `timeout`):
 * 3650 days. Twice it (a sliding window counter keeps two windows) is far inside what Redis TTLs and PostgreSQL
 * intervals hold.
 */
export const MAX_DURATION_MS = 3650 * DAY_MS;
/** The longest duration as written in the config. */
export const MAX_DURATION_TEXT = "3650d";

/**
 * The longest block (`block`, each step of `block_escalation`): 2^31 − 1 ms (about 24.8 days). A blocked call's
 * `retryAfterMs` is the time left in its block, and a waiting `acquire()` (or a caller) arms a timer with it.
 */
export const MAX_BLOCK_MS = MAX_TIMER_MS;
/** The longest block as written in the config. */
export const MAX_BLOCK_TEXT = "2147483647ms";
/** Most steps `block_escalation` may list. */
export const MAX_BLOCK_STEPS = 16;

/** The shortest `window` and `lease`: 1 ms (store TTLs are whole milliseconds). */
export const MIN_WINDOW_MS = 1;

/**
 * The longest store call budget (`timeout`, `socket_timeout`, `socket_connect_timeout` of a store): one day.
 * Each arms a Node timer or a socket timeout, PostgreSQL's `statement_timeout` takes at most 2^31 − 1 ms, and
 * the socket timeout defaults to twice the call budget: one day keeps all of them far below that.
 */
export const MAX_STORE_TIMEOUT_MS = DAY_MS;
/** The longest store call budget as written in the config. */
export const MAX_STORE_TIMEOUT_TEXT = "1d";
/** The shortest store call budget: 1 ms. */
export const MIN_STORE_TIMEOUT_MS = 1;

/**
 * The largest count (`limit`, `burst`, `max_concurrent`, a rate's count): 10^12. Counts and costs add up
 * exactly in a double far beyond it, and Redis replies carry them as exact integers.
 */
export const MAX_COUNT = 1e12;

/**
 * Most limits one limiter may list in `limits = [...]`. Every limit is one more state per key and one more
 * member in the key's atomic decision; a handful covers every real policy (per second, per day, per month).
 */
export const MAX_LIMITS = 8;

/**
 * The fastest rate: 1,000,000 units per second, one unit every 0.001 ms. A faster bucket would add less than
 * the rounding step of an epoch timestamp per unit (about 0.00024 ms), so units would stop being counted, and
 * the algorithms' float tolerance (`TIME_EPSILON_MS`, 0.001 ms) would be worth several units. At this rate the
 * tolerance is worth one unit: a bucket may admit `burst + 1` units at one instant, what it would admit
 * anyway a microsecond later.
 */
export const MAX_RATE_PER_SECOND = 1_000_000;
/** The shortest interval between two units of a bucket, in ms (`1000 / MAX_RATE_PER_SECOND`). */
export const MIN_INTERVAL_MS = 1000 / MAX_RATE_PER_SECOND;

/**
 * The smallest cost of a call (token buckets take fractional costs): 10^-6. Smaller ones would underflow
 * PostgreSQL's `float8` arithmetic (an error there, a silent zero elsewhere).
 */
export const MIN_COST = 1e-6;

/**
 * The largest `max_keys` and `max_clones`: 10,000,000 entries (a JavaScript `Map` holds at most 2^24, about
 * 16.7 million).
 */
export const MAX_ENTRIES = 10_000_000;

/** The largest `pool_max_size` (and `pool_min_size`): 1000 connections. */
export const MAX_POOL_SIZE = 1000;

/** The largest Redis `db` number (Redis takes a 32-bit database index). */
export const MAX_REDIS_DB = 2 ** 31 - 1;
