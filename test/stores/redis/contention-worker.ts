/**
 * A worker process for the contention tests: builds its own RedisStore (its own connection), fires `total`
 * decisions on one key (or on `keys` keys, in turn) with `inFlight` of them outstanding at a time, and
 * reports back to the parent.
 *
 * argv: <json WorkerTask>
 */

import type { LimitParams } from "../../../src/algorithms/types.ts";
import { RedisStore } from "../../../src/stores/redis/index.ts";
import type { StoreOp } from "../../../src/stores/store.ts";
import { decideTimed } from "../../helpers/store-times.ts";
import { redisConfig } from "./setup.ts";

/** What the parent asks a worker to do. */
export interface WorkerTask {
  readonly url: string | readonly string[];
  /** True when `url` lists the nodes of a Redis Cluster. */
  readonly cluster?: boolean;
  readonly keyPrefix: string;
  readonly params: LimitParams;
  readonly key: string;
  /** Decide on this many keys (`<key>-0`, `<key>-1`, …, call `i` on key `i % keys`) instead of on `key`. */
  readonly keys?: number;
  readonly total: number;
  readonly inFlight: number;
  /** For leases: how long to hold each granted lease before releasing it (ms). */
  readonly holdMs: number;
  /** For crash tests: acquire this many leases, report, then wait to be killed. */
  readonly holdForever?: boolean;
  /** Keep every lease taken (never release): a key then admits exactly its limit. */
  readonly keep?: boolean;
  /** How long a call may wait for its turn (a leaky bucket admits its burst only to calls that may wait). */
  readonly maxWaitMs?: number;
}

/** What a worker reports. */
export interface WorkerReport {
  readonly allowed: number;
  readonly denied: number;
  readonly errors: number;
  /** For leases: [grantedAt (store time), releaseSentAt (local wall time)] per held lease. */
  readonly holds: [number, number][];
}

const task = JSON.parse(process.argv[2] ?? "{}") as WorkerTask;
const store = new RedisStore(
  redisConfig(task.url, { keyPrefix: task.keyPrefix, timeoutMs: 5_000, cluster: task.cluster ?? false }),
  { overLimitCache: false },
);
const report = { allowed: 0, denied: 0, errors: 0, holds: [] as [number, number][] };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let next = 0;
async function lane(): Promise<void> {
  while (next < task.total) {
    const index = next++;
    const leaseId = `${process.pid}-${index}`;
    const key = task.keys === undefined ? task.key : `${task.key}-${index % task.keys}`;
    const op: StoreOp =
      task.params.kind === "concurrency"
        ? { limiterId: "contention", key, params: task.params, cost: 1, leaseId }
        : { limiterId: "contention", key, params: task.params, cost: 1 };
    try {
      const { batch, storeNowMs } = await decideTimed(store, [op], task.maxWaitMs ?? 0);
      if (!batch.allowed) {
        report.denied += 1;
        continue;
      }
      report.allowed += 1;
      if (task.params.kind === "concurrency" && !task.holdForever && !task.keep) {
        await sleep(task.holdMs);
        report.holds.push([storeNowMs[0] ?? 0, Date.now()]);
        await store.release("contention", key, leaseId);
      }
    } catch {
      report.errors += 1;
    }
  }
}

// Wait for the parent's go, so every worker starts at once.
process.once("message", async () => {
  await Promise.all(Array.from({ length: task.inFlight }, lane));
  process.send?.(report);
  if (task.holdForever) return; // the parent kills us while we hold leases
  await store.close();
  process.disconnect?.();
});
process.send?.("ready");
