/**
 * @module
 * A worker process for the multi-process SQLite tests: opens its own store on the shared database file, waits
 * for "go", decides, reports the counts.
 *
 * argv[2] is a JSON {@link WorkerTask}. Messages: parent → worker `"go"`, `"stop"`, `"hold"`; worker → parent
 * `"ready"`, `{ progress }` (once, after `progressAfter` decisions), `"holding"`, then a {@link WorkerReport}.
 */

import { openSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import type { LimitParams } from "../../../src/algorithms/types.ts";
import type { SqliteStoreConfig } from "../../../src/config/types.ts";
import { SqliteStore } from "../../../src/stores/sqlite/sqlite-store.ts";
import type { StoreOp } from "../../../src/stores/store.ts";

/** What a worker does. */
export interface WorkerTask {
  readonly config: SqliteStoreConfig;
  readonly limiterId: string;
  readonly params: LimitParams;
  /** Calls to make; without it the worker decides until "stop", then until its first denial after it. */
  readonly calls?: number;
  /** Keys are `key-${i % keys}`; 1 means one hot key. */
  readonly keys: number;
  /** Composite calls over the keys `left` and `right`, in this order or reversed. */
  readonly composite?: { readonly reverse: boolean };
  /** Decide through `decideNow` (the synchronous path `tryAcquireSync` takes) instead of `decide`. */
  readonly sync?: boolean;
  /** Appends one byte to this file after each allowed decision returns (what a killed worker had admitted). */
  readonly logFile?: string;
  /** Sends `{ progress }` once after this many decisions. */
  readonly progressAfter?: number;
  /**
   * Instead of deciding: on "hold", take the write lock on its own connection, delete every row of the limiter
   * without committing, send "holding" and wait to be killed (a process dying inside a transaction).
   */
  readonly holdLock?: boolean;
}

/** What a worker reports. */
export interface WorkerReport {
  readonly allowed: number;
  readonly denied: number;
  readonly errors: number;
  readonly firstError?: string;
  readonly elapsedMs: number;
}

/** Decisions between two yields to the event loop (so "stop" gets in). */
const YIELD_EVERY = 64;

const task = JSON.parse(process.argv[2] ?? "{}") as WorkerTask;
const store = new SqliteStore(task.config, { sweepIntervalMs: 0 });

function opsFor(i: number): StoreOp[] {
  const leaseId = task.params.kind === "concurrency" ? `${process.pid}-${i}` : undefined;
  const one = (key: string): StoreOp =>
    leaseId === undefined
      ? { limiterId: task.limiterId, key, params: task.params, cost: 1 }
      : { limiterId: task.limiterId, key, params: task.params, cost: 1, leaseId };
  if (task.composite !== undefined) {
    const pair = [one("left"), one("right")];
    return task.composite.reverse ? pair.reverse() : pair;
  }
  return [one(`key-${i % task.keys}`)];
}

let stopped = false;

async function run(): Promise<WorkerReport> {
  const log = task.logFile === undefined ? undefined : openSync(task.logFile, "a");
  const marker = Buffer.from("1");
  let allowed = 0;
  let denied = 0;
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  for (let i = 0; ; i++) {
    if (task.calls !== undefined && i >= task.calls) break;
    if (i % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
    let wasAllowed = false;
    try {
      const ops = opsFor(i);
      const batch = task.sync === true ? store.decideNow(ops, 0) : await store.decide(ops, 0);
      wasAllowed = batch.allowed;
      if (batch.allowed) allowed += 1;
      else denied += 1;
    } catch (error) {
      errors += 1;
      firstError ??= error instanceof Error ? error.message : String(error);
    }
    if (wasAllowed && log !== undefined) writeSync(log, marker);
    if (i + 1 === task.progressAfter) process.send?.({ progress: i + 1 });
    // After "stop": on until a call is not allowed (the limit is spent, or an error to report).
    if (task.calls === undefined && stopped && !wasAllowed) break;
  }
  const report: WorkerReport = { allowed, denied, errors, elapsedMs: performance.now() - started };
  return firstError === undefined ? report : { ...report, firstError };
}

function holdLock(): void {
  const Database = createRequire(import.meta.url)("better-sqlite3") as typeof import("better-sqlite3");
  const db = new Database(task.config.path, { timeout: task.config.busyTimeoutMs });
  db.exec("BEGIN IMMEDIATE");
  db.prepare(`DELETE FROM "${task.config.tableName}" WHERE limiter_id = ?`).run(task.limiterId);
  process.send?.("holding");
  // The transaction stays open until the process is killed.
}

// Open the file (and create the table) before the start signal, so the timed part is decisions only.
store.open();
process.send?.("ready");
process.on("message", (message) => {
  if (message === "stop") {
    stopped = true;
  } else if (message === "hold") {
    holdLock();
  } else if (message === "go" && task.holdLock !== true) {
    void run().then(async (report) => {
      process.send?.(report);
      await store.close();
      process.disconnect?.();
    });
  }
});
