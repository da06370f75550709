/**
 * @module
 * The two ways a scenario is measured: throughput (operations per second, with a given number of calls in
 * flight) and sequential latency (one call at a time, p50 and p99). Both warm up first so the JIT and the
 * connections are settled before the clock starts.
 */

import { quantile } from "./stats.ts";

/** One operation under test. Resolves when the operation is done. */
export type Operation = (i: number) => Promise<unknown>;

/** How long to run a measurement. */
export interface Timing {
  /** Measured time, in ms. */
  readonly durationMs: number;
  /** Unmeasured time run first, in ms. */
  readonly warmupMs: number;
}

/**
 * Calls `op` back to back from `inFlight` concurrent loops for `durationMs` and returns operations per second.
 * Each loop passes a running index to `op`, so a scenario can walk its own key distribution.
 *
 * The clock is read once per `checkEvery` calls per loop: reading it costs about as much as a memory
 * decision, so sub-microsecond operations would otherwise mostly measure `performance.now()`.
 */
export async function throughput(
  op: Operation,
  inFlight: number,
  timing: Timing,
  checkEvery = 1,
): Promise<number> {
  await runFor(op, inFlight, timing.warmupMs, checkEvery);
  const started = performance.now();
  const count = await runFor(op, inFlight, timing.durationMs, checkEvery);
  const elapsed = performance.now() - started;
  return (count * 1000) / elapsed;
}

async function runFor(
  op: Operation,
  inFlight: number,
  durationMs: number,
  checkEvery: number,
): Promise<number> {
  // In-process operations only ever queue microtasks: yield to the event loop first, so signals (Ctrl-C, which
  // restores the servers' CPU affinity) and timers get their turn between measurements.
  await new Promise((resolve) => setImmediate(resolve));
  const deadline = performance.now() + durationMs;
  let next = 0;
  let done = 0;
  const loop = async (): Promise<void> => {
    for (;;) {
      for (let k = 0; k < checkEvery; k++) await op(next++);
      done += checkEvery;
      if (performance.now() >= deadline) return;
    }
  };
  const loops: Promise<void>[] = [];
  for (let i = 0; i < inFlight; i++) loops.push(loop());
  await Promise.all(loops);
  return done;
}

/** Sequential latency of an operation, in ms. */
export interface Latency {
  readonly p50: number;
  readonly p99: number;
  readonly samples: number;
}

/** Calls `op` one at a time for `durationMs` (after a warm-up) and returns p50 and p99 of each call's time. */
export async function latency(op: Operation, timing: Timing): Promise<Latency> {
  await runFor(op, 1, timing.warmupMs, 1);
  const samples: number[] = [];
  const deadline = performance.now() + timing.durationMs;
  let i = 0;
  for (;;) {
    const start = performance.now();
    await op(i++);
    const end = performance.now();
    samples.push(end - start);
    if (end >= deadline) break;
  }
  const array = Float64Array.from(samples);
  return { p50: quantile(array, 0.5), p99: quantile(array, 0.99), samples: array.length };
}

/** Throughput with `inFlight` loops, and the p99 time of one call under that load. */
export interface LoadedLatency {
  readonly opsPerSec: number;
  readonly p99: number;
}

/**
 * {@link throughput} that also times every call (the clock is read around each one), for the tail latency of a
 * call among `inFlight` others.
 */
export async function throughputLatency(
  op: Operation,
  inFlight: number,
  timing: Timing,
): Promise<LoadedLatency> {
  await runFor(op, inFlight, timing.warmupMs, 1);
  const samples: number[] = [];
  const timed: Operation = async (i) => {
    const start = performance.now();
    await op(i);
    samples.push(performance.now() - start);
  };
  const started = performance.now();
  const count = await runFor(timed, inFlight, timing.durationMs, 1);
  const elapsed = performance.now() - started;
  return { opsPerSec: (count * 1000) / elapsed, p99: quantile(Float64Array.from(samples), 0.99) };
}
