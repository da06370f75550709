/**
 * Leases and cleanup on the PostgreSQL store: a worker process killed while holding leases gives its slots back
 * once the lease time passes; the background sweep deletes expired rows (states and leases) and keeps live ones.
 */

import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import type { LimitParams } from "../../src/algorithms/types.ts";
import { postgresNames } from "../../src/stores/postgres/identifiers.ts";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.ts";
import type { StoreOp } from "../../src/stores/store.ts";
import { requirePostgres } from "../helpers/stores.ts";
import { adminSql, dropStoreObjects, testConfig } from "./postgres/setup.ts";
import { startWorkers } from "./postgres/workers.ts";

const postgres = await requirePostgres();
const config = testConfig("pg_leases", { url: postgres.url });
const table = postgresNames(config.schemaName, config.tableName).table;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe.skipIf(!postgres.available)("PostgreSQL store leases and cleanup", () => {
  const store = new PostgresStore(config, { cleanupIntervalMs: 0 });

  afterAll(async () => {
    await store.close();
    await dropStoreObjects(config);
  });

  it("a worker killed while holding leases frees its slots after the lease time", {
    timeout: 60_000,
  }, async () => {
    const params: LimitParams = { kind: "concurrency", maxConcurrent: 5, leaseMs: 1_500 };
    await store.ensureReady();
    const [worker] = await startWorkers([
      { config, limiterId: "crash", params, calls: 8, inFlight: 8, keys: 1, hold: true },
    ]);
    if (worker === undefined) throw new Error("no worker");
    const report = await worker.report;
    expect(report.allowed).toBe(5);
    worker.child.kill("SIGKILL");
    await new Promise((resolve) => worker.child.once("exit", resolve));

    const op = (leaseId: string): StoreOp => ({ limiterId: "crash", key: "key-0", params, cost: 1, leaseId });
    const denied = (await store.decide([op("mine-0")], 0)).results[0];
    expect(denied?.allowed).toBe(false);
    expect(denied?.retryAfterMs).toBeGreaterThan(0);
    expect(denied?.retryAfterMs).toBeLessThanOrEqual(1_500);

    await sleep((denied?.retryAfterMs ?? 0) + 100);
    // Every lease of the dead worker has expired by now (they were granted together): all 5 slots are back.
    let granted = 0;
    for (let i = 1; i <= 6; i++) if ((await store.decide([op(`mine-${i}`)], 0)).allowed) granted += 1;
    expect(granted).toBe(5);
  });

  it("cleanup deletes expired rows and leases, and leaves live ones", async () => {
    const admin = await adminSql(postgres.url);
    try {
      const short: LimitParams = { kind: "token_bucket", intervalMs: 20, burst: 5 };
      const long: LimitParams = { kind: "fixed_window", limit: 5, windowMs: 86_400_000 };
      const shortLease: LimitParams = { kind: "concurrency", maxConcurrent: 5, leaseMs: 50 };
      const longLease: LimitParams = { kind: "concurrency", maxConcurrent: 5, leaseMs: 60_000 };
      for (let i = 0; i < 30; i++) {
        await store.decide([{ limiterId: "sweep-short", key: `k${i}`, params: short, cost: 1 }], 0);
        await store.decide([{ limiterId: "sweep-long", key: `k${i}`, params: long, cost: 1 }], 0);
      }
      await store.decide(
        [{ limiterId: "sweep-lease", key: "k", params: shortLease, cost: 1, leaseId: "short" }],
        0,
      );
      await store.decide(
        [{ limiterId: "sweep-lease", key: "k", params: longLease, cost: 1, leaseId: "long" }],
        0,
      );
      await sleep(150);

      // Small batches: the sweep repeats them until a batch comes back short.
      const deleted = await store.cleanupExpired(7);
      expect(deleted).toBeGreaterThanOrEqual(31);

      const rows = await admin.unsafe(
        `SELECT limiter_id, count(*)::int AS n FROM ${table} WHERE limiter_id LIKE 'sweep-%' GROUP BY 1 ORDER BY 1`,
      );
      const counts = Object.fromEntries(rows.map((r) => [r.limiter_id as string, r.n as number]));
      expect(counts["sweep-short"]).toBeUndefined();
      expect(counts["sweep-long"]).toBe(30);
      // The lock row and the live lease stay; the expired lease is gone.
      const leases = await admin.unsafe(
        `SELECT lease_id FROM ${table} WHERE limiter_id = 'sweep-lease' ORDER BY 1`,
      );
      expect(leases.map((r) => r.lease_id)).toEqual(["", "long"]);
      expect(await store.renew("sweep-lease", "k", "long", 60_000)).toBe(true);
      expect(await store.renew("sweep-lease", "k", "short", 60_000)).toBe(false);
    } finally {
      await admin.end({ timeout: 1 });
    }
  });

  it("a process exits by itself once its store is closed (no sweep timer or connection left)", {
    timeout: 20_000,
  }, async () => {
    const worker = fileURLToPath(new URL("./postgres/exit-worker.ts", import.meta.url));
    const child = fork(worker, [JSON.stringify(config)], { execArgv: ["--import", "tsx"], stdio: "inherit" });
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error("the process did not exit after close()"));
      }, 15_000);
      child.once("exit", (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    expect(code).toBe(0);
  });

  it("the background sweep runs on its own and stops with close()", { timeout: 20_000 }, async () => {
    const swept = new PostgresStore(config, { cleanupIntervalMs: 50, cleanupBatchSize: 10 });
    const admin = await adminSql(postgres.url);
    try {
      const params: LimitParams = { kind: "fixed_window", limit: 5, windowMs: 100 };
      for (let i = 0; i < 25; i++) {
        await swept.decide([{ limiterId: "background", key: `k${i}`, params, cost: 1 }], 0);
      }
      let left = -1;
      for (let i = 0; i < 50 && left !== 0; i++) {
        await sleep(100);
        const [row] = await admin.unsafe(
          `SELECT count(*)::int AS n FROM ${table} WHERE limiter_id = 'background'`,
        );
        left = row?.n as number;
      }
      expect(left).toBe(0);
    } finally {
      await admin.end({ timeout: 1 });
      await swept.close();
    }
  });
});
