/**
 * @module
 * Starts contention workers (`contention-worker.ts`) as real processes through tsx, releases them together and
 * collects their reports.
 */

import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { WorkerReport, WorkerTask } from "./contention-worker.ts";

const WORKER = fileURLToPath(new URL("./contention-worker.ts", import.meta.url));

/** A started worker. */
export interface StartedWorker {
  readonly child: ChildProcess;
  /** Resolves with the worker's report once its calls are done. */
  readonly report: Promise<WorkerReport>;
}

function start(task: WorkerTask): {
  child: ChildProcess;
  ready: Promise<void>;
  report: Promise<WorkerReport>;
} {
  const child = fork(WORKER, [JSON.stringify(task)], { execArgv: ["--import", "tsx"], stdio: "inherit" });
  let resolveReady: () => void = () => {};
  let resolveReport: (report: WorkerReport) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    child.once("exit", (code, signal) =>
      reject(new Error(`worker exited early (code ${code}, signal ${signal})`)),
    );
    child.once("error", reject);
  });
  failed.catch(() => {});
  const ready = new Promise<void>((resolve) => {
    resolveReady = resolve;
  });
  const report = new Promise<WorkerReport>((resolve) => {
    resolveReport = resolve;
  });
  child.on("message", (message) => {
    if (message === "ready") resolveReady();
    else resolveReport(message as WorkerReport);
  });
  return { child, ready: Promise.race([ready, failed]), report: Promise.race([report, failed]) };
}

/** Starts one worker per task, waits until all are connected, then sends "go" to all at once. */
export async function startWorkers(tasks: readonly WorkerTask[]): Promise<StartedWorker[]> {
  const started = tasks.map(start);
  await Promise.all(started.map((worker) => worker.ready));
  for (const worker of started) worker.child.send("go");
  return started.map(({ child, report }) => ({ child, report }));
}

/** Runs the tasks to completion and returns every report. */
export async function runWorkers(tasks: readonly WorkerTask[]): Promise<WorkerReport[]> {
  const workers = await startWorkers(tasks);
  try {
    return await Promise.all(workers.map((worker) => worker.report));
  } finally {
    for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill("SIGKILL");
  }
}
