/**
 * A process killed with SIGKILL in the middle of decisions leaves the SQLite database consistent and the other
 * processes going. Two kills while three processes decide on one hot key: one worker in its decision loop (most
 * of its time is spent inside a transaction or waiting for the lock), and one inside an open transaction that
 * has deleted the key's state without committing, holding the write lock. Afterwards: no survivor saw an
 * error, the file passes SQLite's integrity check, the uncommitted delete never happened, and the admissions
 * of all processes add up to exactly the limit.
 */

import { readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { FixedWindowState } from "../../src/algorithms/types.ts";
import { SqliteStore } from "../../src/stores/sqlite/sqlite-store.ts";
import type { WorkerTask } from "./sqlite/contention-worker.ts";
import { tempDatabases } from "./sqlite/setup.ts";
import { killAll, type StartedWorker, startWorkers } from "./sqlite/workers.ts";

const Database = createRequire(import.meta.url)("better-sqlite3") as typeof import("better-sqlite3");

const DAY_MS = 86_400_000;
/** Far above what the survivors decide before both kills, so the limit is reached only after them. */
const LIMIT = 20_000;

const databases = tempDatabases("crash");

/** Resolves once a killed worker has exited. */
function killed(worker: StartedWorker): Promise<void> {
  return new Promise((resolve) => {
    if (worker.child.exitCode !== null || worker.child.signalCode !== null) resolve();
    else worker.child.once("exit", () => resolve());
    worker.child.kill("SIGKILL");
  });
}

describe("SQLite store: a process killed mid-decision", () => {
  afterAll(() => databases.remove());

  it("leaves the file consistent, the others going, and admissions exact", { timeout: 120_000 }, async () => {
    const config = databases.config("crash", { busyTimeoutMs: 20_000 });
    const params = { kind: "fixed_window", limit: LIMIT, windowMs: DAY_MS } as const;
    const limiterId = "crash";
    const logFile = join(databases.dir, "victim.log");
    const base: WorkerTask = { config, limiterId, params, keys: 1 };
    const tasks: WorkerTask[] = [
      { ...base, sync: false },
      { ...base, sync: true },
      { ...base, sync: false },
      // The victim: killed in its decision loop once it has made 500 decisions.
      { ...base, logFile, progressAfter: 500 },
      // The holder: killed inside an uncommitted transaction that deleted the key's state.
      { ...base, holdLock: true },
    ];
    const workers = await startWorkers(tasks);
    try {
      const [a, b, c, victim, holder] = workers as [
        StartedWorker,
        StartedWorker,
        StartedWorker,
        StartedWorker,
        StartedWorker,
      ];
      await victim.next("progress");
      await killed(victim);
      holder.child.send("hold");
      await holder.next("holding");
      await killed(holder);
      expect(victim.child.signalCode).toBe("SIGKILL");
      expect(holder.child.signalCode).toBe("SIGKILL");

      // The survivors decide on until the limit is spent, then report.
      for (const survivor of [a, b, c]) survivor.child.send("stop");
      const reports = await Promise.all([a.report, b.report, c.report]);
      for (const report of reports) expect(report.errors, report.firstError).toBe(0);

      // The victim logs each admission after its decision returned: a kill between the commit and the log
      // line leaves one admission unlogged, never one logged too many.
      const victimLogged = statSync(logFile).size;
      expect(readFileSync(logFile, "utf8")).toMatch(/^1*$/);
      const survivors = reports.reduce((sum, report) => sum + report.allowed, 0);
      expect(victimLogged).toBeGreaterThan(0);
      expect(survivors + victimLogged).toBeGreaterThanOrEqual(LIMIT - 1);
      expect(survivors + victimLogged).toBeLessThanOrEqual(LIMIT);

      // The file: intact, and the key's state holds exactly the limit (the holder's delete was rolled back).
      const db = new Database(config.path, { readonly: true });
      expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
      const row = db
        .prepare<[string], { value: string }>("SELECT value FROM rate_sync_state WHERE limiter_id = ?")
        .get(limiterId);
      db.close();
      expect((JSON.parse(row?.value ?? "{}") as FixedWindowState).count).toBe(LIMIT);

      // A new process (a new store) opens the file and goes on deciding.
      const store = new SqliteStore(config, { sweepIntervalMs: 0 });
      const op = { limiterId, key: "key-0", params, cost: 1 };
      expect((await store.decide([op], 0)).allowed).toBe(false);
      const fresh = { limiterId: "after-crash", key: "k", params, cost: 1 };
      expect((await store.decide([fresh], 0)).allowed).toBe(true);
      await store.close();
    } finally {
      killAll(workers);
    }
  });
});
