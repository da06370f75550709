/**
 * Clock skew between clients does not matter on the PostgreSQL store: decisions read the server's clock inside
 * the statement, and results are durations. Two processes whose wall clocks are an hour apart (either way) share
 * one limit exactly, and a process whose clock is a day off still gets the server's time and windows.
 */

import { afterAll, describe, expect, it, vi } from "vitest";
import type { LimitParams } from "../../src/algorithms/types.ts";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.ts";
import { decideTimed } from "../helpers/store-times.ts";
import { requirePostgres } from "../helpers/stores.ts";
import { adminSql, dropStoreObjects, testConfig } from "./postgres/setup.ts";
import { runWorkers } from "./postgres/workers.ts";

const postgres = await requirePostgres();
const config = testConfig("pg_clock", { url: postgres.url, timeoutMs: 20_000 });
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

describe.skipIf(!postgres.available)("PostgreSQL store with skewed client clocks", () => {
  afterAll(async () => {
    vi.restoreAllMocks();
    await dropStoreObjects(config);
  });

  it("processes an hour ahead and an hour behind share one limit exactly", { timeout: 60_000 }, async () => {
    const params: LimitParams = { kind: "sliding_window", limit: 50, windowMs: DAY_MS };
    const reports = await runWorkers(
      [HOUR_MS, -HOUR_MS].map((skewMs) => ({
        config,
        limiterId: "skew",
        params,
        calls: 100,
        inFlight: 32,
        keys: 1,
        skewMs,
      })),
    );
    expect(reports.reduce((n, r) => n + r.errors, 0)).toBe(0);
    expect(reports.reduce((n, r) => n + r.allowed, 0)).toBe(50);
  });

  it("a client clock a day off changes nothing: the store decides on the server's time", async () => {
    const store = new PostgresStore(config, { cleanupIntervalMs: 0 });
    const admin = await adminSql(postgres.url);
    try {
      const realNow = Date.now();
      vi.spyOn(Date, "now").mockImplementation(() => realNow + DAY_MS);
      const params: LimitParams = { kind: "fixed_window", limit: 1, windowMs: 60_000 };
      const { batch, nowMs } = await decideTimed(
        store,
        [{ limiterId: "day-off", key: "k", params, cost: 1 }],
        0,
      );
      const [row] = await admin`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS server_ms`;
      const serverMs = row?.server_ms as number;
      // The decision's time is the server's (seconds apart at most), not the skewed client's.
      expect(Math.abs(serverMs - nowMs)).toBeLessThan(10_000);
      const result = batch.results[0];
      expect(result?.allowed).toBe(true);
      // The window ends where the server's minute ends.
      expect(result?.resetAfterMs).toBeCloseTo(60_000 - (nowMs % 60_000), 3);
    } finally {
      vi.restoreAllMocks();
      await admin.end({ timeout: 1 });
      await store.close();
    }
  });
});
