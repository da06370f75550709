/**
 * @module
 * The local clock every guard measures spans with.
 */

/** A monotonic clock in milliseconds (not wall time: breaker, cache and deadline spans must not jump with NTP). */
export type MonotonicClock = () => number;

/** `performance.now()`: monotonic, and cheap enough to read on every call. */
export const monotonicNow: MonotonicClock = () => performance.now();
