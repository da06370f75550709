/**
 * @module
 * Starts SQLite workers (`contention-worker.ts`) as real processes through tsx, releases them together and
 * collects their reports.
 */

import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { WorkerReport, WorkerTask } from "./contention-worker.ts";

const WORKER = fileURLToPath(new URL("./contention-worker.ts", import.meta.url));

/** A started worker. */
export interface StartedWorker {
  readonly child: ChildProcess;
  /** Resolves with the worker's report once its calls are done; rejects if it exits first. */
  readonly report: Promise<WorkerReport>;
  /** Resolves when the worker sends `message` (a string, or an object with this key). */
  next(message: string): Promise<void>;
}

function start(task: WorkerTask): StartedWorker & { ready: Promise<void> } {
  const child = fork(WORKER, [JSON.stringify(task)], { execArgv: ["--import", "tsx"], stdio: "inherit" });
  const waiting = new Map<string, () => void>();
  const seen = new Set<string>();
  let resolveReport: (report: WorkerReport) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    child.once("exit", (code, signal) =>
      reject(new Error(`worker exited early (code ${code}, signal ${signal})`)),
    );
    child.once("error", reject);
  });
  failed.catch(() => {});
  const report = new Promise<WorkerReport>((resolve) => {
    resolveReport = resolve;
  });
  child.on("message", (message) => {
    const name =
      typeof message === "string"
        ? message
        : message !== null && typeof message === "object" && "progress" in message
          ? "progress"
          : undefined;
    if (name === undefined) {
      resolveReport(message as WorkerReport);
      return;
    }
    seen.add(name);
    waiting.get(name)?.();
  });
  // Marked as handled: a worker the test kills on purpose rejects what nobody waits for any more.
  const handled = <T>(promise: Promise<T>): Promise<T> => {
    promise.catch(() => {});
    return promise;
  };
  const next = (name: string): Promise<void> =>
    seen.has(name)
      ? Promise.resolve()
      : handled(Promise.race([new Promise<void>((resolve) => waiting.set(name, resolve)), failed]));
  return { child, ready: next("ready"), report: handled(Promise.race([report, failed])), next };
}

/** Starts one worker per task, waits until all have opened the file, then sends "go" to all at once. */
export async function startWorkers(tasks: readonly WorkerTask[]): Promise<StartedWorker[]> {
  const started = tasks.map(start);
  await Promise.all(started.map((worker) => worker.ready));
  for (const worker of started) worker.child.send("go");
  return started;
}

/** Kills every worker still running (the tests' cleanup). */
export function killAll(workers: readonly StartedWorker[]): void {
  for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill("SIGKILL");
}

/** Runs the tasks to completion and returns every report. */
export async function runWorkers(tasks: readonly WorkerTask[]): Promise<WorkerReport[]> {
  const workers = await startWorkers(tasks);
  try {
    return await Promise.all(workers.map((worker) => worker.report));
  } finally {
    killAll(workers);
  }
}
