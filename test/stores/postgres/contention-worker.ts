/**
 * @module
 * A worker process for the multi-process PostgreSQL tests: builds its own store straight from
 * `src/stores/postgres`, waits for "go", runs its calls with a fixed number in flight, reports the counts.
 *
 * argv[2] is a JSON {@link WorkerTask}. Messages: parent → worker `"go"`; worker → parent `"ready"`, then a
 * {@link WorkerReport}. With `hold: true` the worker keeps its leases and waits to be killed.
 */

import type { LimitParams } from "../../../src/algorithms/types.ts";
import type { PostgresStoreConfig } from "../../../src/config/types.ts";
import {
  PostgresStore,
  postgresBatchStats,
  tuneDecidePaths,
} from "../../../src/stores/postgres/postgres-store.ts";
import type { StoreOp } from "../../../src/stores/store.ts";

/** What a worker does. */
export interface WorkerTask {
  readonly config: PostgresStoreConfig;
  readonly limiterId: string;
  readonly params: LimitParams;
  /** Calls to make. */
  readonly calls: number;
  /** Calls in flight at once. */
  readonly inFlight: number;
  /** Keys are `key-${i % keys}`; 1 means one hot key. */
  readonly keys: number;
  /**
   * Composite calls over two keys, in the order given by `reverse` (to provoke lock-order deadlocks): `left` and
   * `right`, or with `spread` two of `spread` keys that change from call to call (batches then lock overlapping,
   * different sets of rows).
   */
  readonly composite?: { readonly reverse: boolean; readonly spread?: number };
  /** Keep the process alive after the calls (for crash tests: the parent kills it). */
  readonly hold?: boolean;
  /** Skews this process's wall clock (`Date.now`) by this many ms: decisions must not care. */
  readonly skewMs?: number;
  /** Send single ops through the general decide function instead of the lean single-op one. */
  readonly general?: boolean;
}

/** What a worker reports. */
export interface WorkerReport {
  readonly allowed: number;
  readonly denied: number;
  readonly errors: number;
  readonly firstError?: string;
  readonly elapsedMs: number;
  /** Batch statements sent, and how many had each size (see `TurnBatcher.stats`). */
  readonly batches: number;
  readonly batchSizes: readonly number[];
}

const task = JSON.parse(process.argv[2] ?? "{}") as WorkerTask;
if (task.skewMs !== undefined) {
  const realNow = Date.now.bind(Date);
  const skew = task.skewMs;
  Date.now = () => realNow() + skew;
}
const store = new PostgresStore(task.config, {
  cleanupIntervalMs: 0,
  overLimitCache: false,
});
if (task.general === true) tuneDecidePaths(store, { lean: false, plainSql: false });

function opFor(i: number): StoreOp[] {
  const leaseId = task.params.kind === "concurrency" ? `${process.pid}-${i}` : undefined;
  const one = (key: string): StoreOp =>
    leaseId === undefined
      ? { limiterId: task.limiterId, key, params: task.params, cost: 1 }
      : { limiterId: task.limiterId, key, params: task.params, cost: 1, leaseId };
  if (task.composite !== undefined) {
    const spread = task.composite.spread;
    const pair =
      spread === undefined
        ? [one("left"), one("right")]
        : [one(`key-${i % spread}`), one(`key-${(i * 37 + 11 + (i % 3)) % spread}-b`)];
    return task.composite.reverse ? pair.reverse() : pair;
  }
  return [one(`key-${i % task.keys}`)];
}

async function run(): Promise<WorkerReport> {
  let next = 0;
  let allowed = 0;
  let denied = 0;
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const lane = async () => {
    while (next < task.calls) {
      const i = next++;
      try {
        const batch = await store.decide(opFor(i), 0);
        if (batch.allowed) allowed += 1;
        else denied += 1;
      } catch (error) {
        errors += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: task.inFlight }, lane));
  const stats = postgresBatchStats(store);
  const report: WorkerReport = {
    allowed,
    denied,
    errors,
    elapsedMs: performance.now() - started,
    batches: stats.batches,
    batchSizes: stats.sizes,
  };
  return firstError === undefined ? report : { ...report, firstError };
}

// Connect (and create the schema) before the start signal, so the timed part is decisions only.
await store.ensureReady();
process.send?.("ready");
process.once("message", async () => {
  const report = await run();
  process.send?.(report);
  if (task.hold) return; // keep leases (and the process) until killed
  await store.close();
  process.disconnect?.();
});
