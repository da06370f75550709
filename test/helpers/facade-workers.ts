/**
 * @module
 * Forks facade workers (`facade-worker.ts`, real processes through tsx), starts them together and sums what
 * they admitted.
 */

import { fileURLToPath } from "node:url";
import type { FacadeReport, FacadeTask } from "./facade-worker.ts";
import { startForked } from "./fork-workers.ts";

const WORKER = fileURLToPath(new URL("./facade-worker.ts", import.meta.url));

/**
 * Runs `count` workers on `task`, all started at once once every one is connected, and returns how many calls
 * they admitted in all, after checking that no call failed and every call was answered.
 */
export async function admittedThroughFacade(count: number, task: FacadeTask): Promise<number> {
  const workers = await startForked<FacadeReport>(WORKER, count, task);
  const reports = await Promise.all(workers.map((w) => w.report));
  const errors = reports.reduce((n, r) => n + r.errors, 0);
  const answered = reports.reduce((n, r) => n + r.allowed + r.denied, 0);
  if (errors !== 0 || answered !== count * task.total) {
    throw new Error(`${errors} calls failed, ${answered} of ${count * task.total} answered`);
  }
  return reports.reduce((n, r) => n + r.allowed, 0);
}
