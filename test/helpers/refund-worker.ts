/**
 * A worker process for the contention tests of refunds and settles: each call acquires an estimated cost with
 * `tryAcquire`, then, when admitted, picks an actual cost at random between 1 and the estimate and gives the
 * difference back (`rs.refund`, or `decision.settle(actual)`), and reports back to the parent how many calls
 * were admitted and the actual units they used.
 *
 * argv: <json RefundTask>
 */

import { RateSync } from "../../src/index.ts";

/** What the parent asks a worker to do. */
export interface RefundTask {
  /** The config object (`RateSync.fromConfig`). */
  readonly config: Record<string, unknown>;
  /** The key every call asks for. */
  readonly key: string;
  readonly total: number;
  readonly inFlight: number;
  /** The cost each call acquires before its work. */
  readonly estimate: number;
  /** How the unused part goes back: `rs.refund` (the default) or the decision's `settle`. */
  readonly via?: "refund" | "settle";
}

/** What a worker reports. */
export interface RefundReport {
  readonly allowed: number;
  readonly denied: number;
  readonly errors: number;
  /** The sum of the actual costs of the admitted calls. */
  readonly used: number;
}

const task = JSON.parse(process.argv[2] ?? "{}") as RefundTask;
const rs = RateSync.fromConfig(task.config);
const report = { allowed: 0, denied: 0, errors: 0, used: 0 };

let next = 0;
async function lane(): Promise<void> {
  while (next < task.total) {
    next++;
    try {
      const decision = await rs.tryAcquire(task.key, { cost: task.estimate });
      if (!decision.allowed) {
        report.denied++;
        continue;
      }
      if (decision.degraded !== undefined) {
        report.errors++;
        continue;
      }
      const actual = 1 + Math.floor(Math.random() * task.estimate);
      if (task.via === "settle") await decision.settle!(actual);
      else if (actual < task.estimate) await rs.refund(task.key, task.estimate - actual);
      report.allowed++;
      report.used += actual;
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
