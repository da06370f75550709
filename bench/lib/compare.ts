/**
 * @module
 * Interleaved comparison: every run measures each contender once, and the order rotates from run to run, so
 * slow drift on a shared machine (other processes, thermal limits) touches every contender alike.
 */

import type { Latency } from "./measure.ts";
import { type Summary, summarize } from "./stats.ts";

/** What one row of the report says: a metric of a scenario, measured for several contenders. */
export interface Row {
  /** Group in the table: "physical", "memory", "redis", "postgres", "acquire". */
  readonly section: string;
  readonly scenario: string;
  readonly metric: Metric;
  /** Contender name → its runs. "rate-sync" is ours; other names are competitors or physical limits. */
  readonly values: Readonly<Record<string, Summary>>;
  /** What the scenario compares (algorithm, limits, key distribution, flight depth). */
  readonly note?: string;
}

/** Unit of a row; says which direction is better. */
export type Metric = "ops/s" | "p50 ms" | "p99 ms" | "bytes/key" | "% of ideal";

/** True when a larger figure is better for this metric. */
export function higherIsBetter(metric: Metric): boolean {
  return metric === "ops/s" || metric === "% of ideal";
}

/** Settings shared by every scenario of one bench run. */
export interface BenchContext {
  /** Runs per figure (each figure is their median). */
  readonly runs: number;
  /** Measured time of one measurement, in ms. */
  readonly durationMs: number;
  /** Warm-up before each measurement, in ms. */
  readonly warmupMs: number;
  readonly quick: boolean;
  readonly redisUrl: string;
  readonly databaseUrl: string;
  /** Unique per bench run: prefixes every Redis key and PostgreSQL table the bench creates. */
  readonly runId: string;
  /** Progress output (stderr), so stdout stays the table. */
  readonly log: (line: string) => void;
  /** Pins a server process (a PostgreSQL backend) to the server core; does nothing when pinning is off. */
  readonly pinServer: (pid: number) => Promise<void>;
}

/** Measures each contender once per run, rotating the order, and summarizes each contender's runs. */
export async function interleave(
  runs: number,
  contenders: Readonly<Record<string, () => Promise<number>>>,
): Promise<Record<string, Summary>> {
  const names = Object.keys(contenders);
  const values: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < runs; r++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + r) % names.length]!;
      values[name]!.push(await contenders[name]!());
    }
  }
  return Object.fromEntries(names.map((n) => [n, summarize(values[n]!)]));
}

/** {@link interleave} for latency measurements: gives back one summary per contender for p50 and for p99. */
export async function interleaveLatency(
  runs: number,
  contenders: Readonly<Record<string, () => Promise<Latency>>>,
): Promise<{ p50: Record<string, Summary>; p99: Record<string, Summary> }> {
  const names = Object.keys(contenders);
  const p50: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const p99: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < runs; r++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + r) % names.length]!;
      const measured = await contenders[name]!();
      p50[name]!.push(measured.p50);
      p99[name]!.push(measured.p99);
    }
  }
  const summarizeAll = (from: Record<string, number[]>) =>
    Object.fromEntries(names.map((n) => [n, summarize(from[n]!)]));
  return { p50: summarizeAll(p50), p99: summarizeAll(p99) };
}

/** {@link interleave} for loaded measurements: one summary per contender for throughput and for p99. */
export async function interleaveLoaded(
  runs: number,
  contenders: Readonly<Record<string, () => Promise<{ readonly opsPerSec: number; readonly p99: number }>>>,
): Promise<{ opsPerSec: Record<string, Summary>; p99: Record<string, Summary> }> {
  const names = Object.keys(contenders);
  const rates: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const p99: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < runs; r++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + r) % names.length]!;
      const measured = await contenders[name]!();
      rates[name]!.push(measured.opsPerSec);
      p99[name]!.push(measured.p99);
    }
  }
  const summarizeAll = (from: Record<string, number[]>) =>
    Object.fromEntries(names.map((n) => [n, summarize(from[n]!)]));
  return { opsPerSec: summarizeAll(rates), p99: summarizeAll(p99) };
}
