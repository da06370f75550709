/**
 * @module
 * Spawns contention workers (real processes through tsx) and collects their reports.
 */

import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { WorkerReport, WorkerTask } from "./contention-worker.ts";

const WORKER = fileURLToPath(new URL("./contention-worker.ts", import.meta.url));

/** A started worker: its process and its report once done. */
export interface RunningWorker {
  readonly child: ChildProcess;
  readonly report: Promise<WorkerReport>;
}

/** Forks `count` workers, waits until all are ready, then starts them together. */
export async function startWorkers(count: number, task: WorkerTask): Promise<RunningWorker[]> {
  const workers = Array.from({ length: count }, () => {
    const child = fork(WORKER, [JSON.stringify(task)], { execArgv: ["--import", "tsx"], stdio: "inherit" });
    let ready!: () => void;
    const isReady = new Promise<void>((resolve) => {
      ready = resolve;
    });
    const report = new Promise<WorkerReport>((resolve, reject) => {
      child.on("message", (message) => {
        if (message === "ready") ready();
        else resolve(message as WorkerReport);
      });
      child.once("exit", (code) => reject(new Error(`worker exited with ${code} before reporting`)));
    });
    report.catch(() => {});
    return { child, report, isReady };
  });
  await Promise.all(workers.map((w) => w.isReady));
  for (const w of workers) w.child.send("go");
  return workers.map(({ child, report }) => ({ child, report }));
}
