/**
 * @module
 * Spawns contention workers (real processes through tsx) and collects their reports.
 */

import { fileURLToPath } from "node:url";
import type { LimitParams } from "../../../src/algorithms/types.ts";
import { type RunningWorker as ForkedWorker, startForked } from "../../helpers/fork-workers.ts";
import type { WorkerReport, WorkerTask } from "./contention-worker.ts";

const WORKER = fileURLToPath(new URL("./contention-worker.ts", import.meta.url));

/** A started worker: its process and its report once done. */
export type RunningWorker = ForkedWorker<WorkerReport>;

/** Forks `count` workers, waits until all are ready, then starts them together. */
export function startWorkers(count: number, task: WorkerTask): Promise<RunningWorker[]> {
  return startForked<WorkerReport>(WORKER, count, task);
}

/**
 * Runs `count` workers on `task` and returns how many decisions they admitted in all, after checking that no
 * call failed and every call was answered.
 */
export async function admittedBy(count: number, task: WorkerTask): Promise<number> {
  const workers = await startWorkers(count, task);
  const reports = await Promise.all(workers.map((w) => w.report));
  const errors = reports.reduce((n, r) => n + r.errors, 0);
  const answered = reports.reduce((n, r) => n + r.allowed + r.denied, 0);
  if (errors !== 0 || answered !== count * task.total) {
    throw new Error(`${errors} calls failed, ${answered} of ${count * task.total} answered`);
  }
  return reports.reduce((n, r) => n + r.allowed, 0);
}

/**
 * Every algorithm with a limit of `limit` per key and nothing refilling or expiring during a contention run
 * (windows align to the epoch: huge ones), so each key admits exactly `limit`; and what the task needs for
 * that: a leaky bucket admits its burst only to calls that may wait, leases must be kept.
 */
export function contentionLimits(
  limit: number,
): readonly { readonly params: LimitParams; readonly extra: Partial<WorkerTask> }[] {
  return [
    { params: { kind: "fixed_window", limit, windowMs: 1e12 }, extra: {} },
    { params: { kind: "token_bucket", intervalMs: 3_600_000, burst: limit }, extra: {} },
    { params: { kind: "leaky_bucket", intervalMs: 3_600_000, burst: limit }, extra: { maxWaitMs: 1e12 } },
    { params: { kind: "sliding_window", limit, windowMs: 3_600_000 }, extra: {} },
    { params: { kind: "sliding_window_counter", limit, windowMs: 1e12 }, extra: {} },
    { params: { kind: "concurrency", maxConcurrent: limit, leaseMs: 3_600_000 }, extra: { keep: true } },
  ];
}
