/**
 * @module
 * What the in-database contention tests (PostgreSQL, SQLite: 4 processes deciding on one database) share: the
 * cases every algorithm runs, with how many calls each must admit, and the tally of the workers' reports.
 */

import type { LimitParams } from "../../src/algorithms/types.ts";

/** Workers deciding at once: separate processes, as separate application instances would be. */
export const PROCESSES = 4;

/** Long windows and intervals: nothing refills while a test runs, so "exactly the limit" is exact. */
export const DAY_MS = 86_400_000;

/** A case: the algorithm's name, its params, and how many calls (per key) it must admit. */
export type ContentionCase = readonly [name: string, params: LimitParams, admitted: number];

/** One hot key, limit 100, 800 calls: exactly 100 admitted (a leaky bucket with no wait: 1). */
export const HOT_CASES: readonly ContentionCase[] = [
  ["fixed_window", { kind: "fixed_window", limit: 100, windowMs: DAY_MS }, 100],
  ["token_bucket", { kind: "token_bucket", intervalMs: DAY_MS, burst: 100 }, 100],
  ["leaky_bucket", { kind: "leaky_bucket", intervalMs: DAY_MS, burst: 100 }, 1],
  ["sliding_window", { kind: "sliding_window", limit: 100, windowMs: DAY_MS }, 100],
  ["sliding_window_counter", { kind: "sliding_window_counter", limit: 100, windowMs: DAY_MS }, 100],
  ["concurrency", { kind: "concurrency", maxConcurrent: 100, leaseMs: DAY_MS }, 100],
];

/** 10,000 keys, limit 3, each key hit 4 times: exactly 3 per key admitted (a leaky bucket with no wait: 1). */
export const SPREAD_CASES: readonly ContentionCase[] = [
  ["fixed_window", { kind: "fixed_window", limit: 3, windowMs: DAY_MS }, 3],
  ["token_bucket", { kind: "token_bucket", intervalMs: DAY_MS, burst: 3 }, 3],
  // Nobody may queue without a reservation: one call per key, then the bucket is full.
  ["leaky_bucket", { kind: "leaky_bucket", intervalMs: DAY_MS, burst: 3 }, 1],
  ["sliding_window", { kind: "sliding_window", limit: 3, windowMs: DAY_MS }, 3],
  ["sliding_window_counter", { kind: "sliding_window_counter", limit: 3, windowMs: DAY_MS }, 3],
  ["concurrency", { kind: "concurrency", maxConcurrent: 3, leaseMs: DAY_MS }, 3],
];

/** What each worker reports back. */
export interface ContentionReport {
  readonly allowed: number;
  readonly denied: number;
  readonly errors: number;
  readonly firstError?: string;
  readonly elapsedMs: number;
}

/** The workers' reports summed: calls, outcomes, the first error, and decisions per second over the slowest. */
export function tally(reports: readonly ContentionReport[]) {
  const sum = (f: (r: ContentionReport) => number) => reports.reduce((acc, r) => acc + f(r), 0);
  const elapsedMs = Math.max(...reports.map((r) => r.elapsedMs));
  const calls = sum((r) => r.allowed + r.denied + r.errors);
  return {
    allowed: sum((r) => r.allowed),
    denied: sum((r) => r.denied),
    errors: sum((r) => r.errors),
    firstError: reports.find((r) => r.firstError !== undefined)?.firstError,
    calls,
    perSecond: Math.round((calls / elapsedMs) * 1000),
  };
}
