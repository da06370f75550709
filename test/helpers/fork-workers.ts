/**
 * @module
 * Forks worker processes (real processes through tsx) for the multi-process tests, waits until every one is
 * ready, then starts them together: each worker sends `"ready"`, waits for `"go"`, and sends its report.
 */

import { type ChildProcess, fork } from "node:child_process";

/** A started worker: its process and its report once done. */
export interface RunningWorker<R> {
  readonly child: ChildProcess;
  readonly report: Promise<R>;
}

/** Forks `count` workers of `script` with `task` (as JSON in argv), waits until all are ready, then starts them. */
export async function startForked<R>(
  script: string,
  count: number,
  task: unknown,
): Promise<RunningWorker<R>[]> {
  const workers = Array.from({ length: count }, () => {
    const child = fork(script, [JSON.stringify(task)], { execArgv: ["--import", "tsx"], stdio: "inherit" });
    let ready!: () => void;
    const isReady = new Promise<void>((resolve) => {
      ready = resolve;
    });
    const report = new Promise<R>((resolve, reject) => {
      child.on("message", (message) => {
        if (message === "ready") ready();
        else resolve(message as R);
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
