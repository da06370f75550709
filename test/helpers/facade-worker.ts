/**
 * A worker process that decides through the whole library (config → RateSync → store), for contention tests of
 * what only the facade does (several limits per limiter, templates): builds a RateSync from a config object,
 * fires `total` `tryAcquire` calls with `inFlight` outstanding at a time, and reports back to the parent.
 *
 * argv: <json FacadeTask>
 */

import { RateSync } from "../../src/index.ts";

/** What the parent asks a worker to do. */
export interface FacadeTask {
  /** The config object (`RateSync.fromConfig`). */
  readonly config: Record<string, unknown>;
  /** The key every call asks for. */
  readonly key: string;
  readonly total: number;
  readonly inFlight: number;
}

/** What a worker reports. */
export interface FacadeReport {
  readonly allowed: number;
  readonly denied: number;
  readonly errors: number;
}

const task = JSON.parse(process.argv[2] ?? "{}") as FacadeTask;
const rs = RateSync.fromConfig(task.config);
const report = { allowed: 0, denied: 0, errors: 0 };

let next = 0;
async function lane(): Promise<void> {
  while (next < task.total) {
    next++;
    try {
      const decision = await rs.tryAcquire(task.key);
      if (decision.allowed && decision.degraded === undefined) report.allowed++;
      else if (decision.allowed) report.errors++;
      else report.denied++;
    } catch {
      report.errors++;
    }
  }
}

process.on("message", async (message) => {
  if (message !== "go") return;
  await Promise.all(Array.from({ length: task.inFlight }, lane));
  process.send?.(report);
  await rs.close();
  process.exit(0);
});
// Connect before the start signal, so that every worker starts deciding at the same moment.
await rs.peek(task.key);
process.send?.("ready");
