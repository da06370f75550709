/**
 * Faults on the PostgreSQL store: a TCP proxy between the store and the server cuts and black-holes the link
 * mid-load; server-side termination of the store's connections. Every failure must be a StoreError within the
 * call's budget, nothing may hang or go unhandled, and service must resume by itself.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isStoreError, StoreError } from "../../src/errors.ts";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.ts";
import type { StoreOp } from "../../src/stores/store.ts";
import { requirePostgres } from "../helpers/stores.ts";
import { TcpProxy } from "../helpers/tcp-proxy.ts";
import { adminSql, dropStoreObjects, testConfig } from "./postgres/setup.ts";

const postgres = await requirePostgres();
const TIMEOUT_MS = 400;
/** Scheduling slack on top of the budget before a failure counts as "late" (a loaded CI machine). */
const LATE_MS = 600;
const config = testConfig("pg_faults", { url: postgres.url, timeoutMs: TIMEOUT_MS, poolMaxSize: 4 });

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const op = (key: string): StoreOp => ({
  limiterId: "faults",
  key,
  params: { kind: "token_bucket", intervalMs: 1, burst: 1_000_000 },
  cost: 1,
});

/** Calls until one succeeds (bounded); returns how many attempts it took. */
async function untilHealthy(store: PostgresStore, attempts = 60): Promise<number> {
  for (let i = 1; i <= attempts; i++) {
    try {
      await store.decide([op("probe")], 0);
      return i;
    } catch (error) {
      expect(isStoreError(error)).toBe(true);
      await sleep(100);
    }
  }
  throw new Error(`the store did not recover within ${attempts} attempts`);
}

interface LoadStats {
  ok: number;
  failed: number;
  latestFailureMs: number;
  nonStoreErrors: unknown[];
}

/** Runs `lanes` loops of decisions until `stop()`; records successes, failures and the slowest failure. */
function load(store: PostgresStore, lanes: number) {
  const stats: LoadStats = { ok: 0, failed: 0, latestFailureMs: 0, nonStoreErrors: [] };
  let running = true;
  const lane = async (i: number) => {
    while (running) {
      const started = performance.now();
      try {
        await store.decide([op(`lane-${i}`)], 0);
        stats.ok += 1;
      } catch (error) {
        stats.failed += 1;
        stats.latestFailureMs = Math.max(stats.latestFailureMs, performance.now() - started);
        if (!(error instanceof StoreError)) stats.nonStoreErrors.push(error);
        await sleep(10);
      }
    }
  };
  const done = Promise.all(Array.from({ length: lanes }, (_, i) => lane(i)));
  return {
    stats,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

describe.skipIf(!postgres.available)("PostgreSQL store faults", () => {
  let proxy: TcpProxy;
  let proxied: typeof config;
  beforeAll(async () => {
    const target = new URL(postgres.url);
    proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
    target.hostname = "127.0.0.1";
    target.port = String(proxy.port);
    proxied = { ...config, url: target.toString() };
  });

  afterAll(async () => {
    await proxy.close();
    await dropStoreObjects(config);
  });

  it("a cut mid-load fails calls with StoreError within the budget, then recovers by itself", async () => {
    const store = new PostgresStore(proxied, { breaker: { coolDownMs: 200 } });
    try {
      await store.ensureReady();
      const running = load(store, 16);
      await sleep(300);
      const okBefore = running.stats.ok;
      expect(okBefore).toBeGreaterThan(0);

      proxy.cut();
      await sleep(1_000);
      const failedWhileCut = running.stats.failed;
      expect(failedWhileCut).toBeGreaterThan(0);

      proxy.restore();
      await untilHealthy(store);
      const okAtRestore = running.stats.ok;
      await sleep(500);
      await running.stop();

      expect(running.stats.nonStoreErrors).toEqual([]);
      expect(running.stats.latestFailureMs).toBeLessThanOrEqual(TIMEOUT_MS + LATE_MS);
      expect(running.stats.ok).toBeGreaterThan(okAtRestore);
      expect(store.stats().breaker).toBe("closed");
      expect(store.stats().errors).toBeGreaterThan(0);
    } finally {
      proxy.restore();
      await store.close();
    }
  });

  it("a black-holed link (no replies at all) times out as StoreError, and fresh connections take over", async () => {
    const store = new PostgresStore(proxied, { breaker: { coolDownMs: 200 } });
    try {
      await store.ensureReady();
      const running = load(store, 8);
      await sleep(200);
      proxy.blackhole();
      await sleep(1_500);
      expect(running.stats.failed).toBeGreaterThan(0);
      proxy.restore();
      // Black-holed sockets stay silent forever; the store must replace them rather than wait on them.
      await untilHealthy(store);
      const okAtRestore = running.stats.ok;
      await sleep(500);
      await running.stop();
      expect(running.stats.nonStoreErrors).toEqual([]);
      expect(running.stats.latestFailureMs).toBeLessThanOrEqual(TIMEOUT_MS + LATE_MS);
      expect(running.stats.ok).toBeGreaterThan(okAtRestore);
    } finally {
      proxy.restore();
      await store.close();
    }
  });

  it("an open breaker fails fast with StoreError and never reaches the server", async () => {
    const store = new PostgresStore(proxied, { breaker: { failureThreshold: 2, coolDownMs: 60_000 } });
    try {
      await store.ensureReady();
      proxy.cut();
      for (let i = 0; i < 2; i++) await expect(store.decide([op("x")], 0)).rejects.toBeInstanceOf(StoreError);
      expect(store.stats().breaker).toBe("open");
      const accepted = proxy.accepted;
      const started = performance.now();
      await expect(store.decide([op("x")], 0)).rejects.toThrow(/circuit breaker/);
      expect(performance.now() - started).toBeLessThan(TIMEOUT_MS);
      expect(proxy.accepted).toBe(accepted);
    } finally {
      proxy.restore();
      await store.close();
    }
  });

  it("the pool reconnects after the server terminates every connection", async () => {
    const applicationName = `rs_faults_${process.pid}_${Date.now()}`;
    const store = new PostgresStore(config, { applicationName, cleanupIntervalMs: 0 });
    const admin = await adminSql(postgres.url);
    try {
      await Promise.all(Array.from({ length: 8 }, (_, i) => store.decide([op(`warm-${i}`)], 0)));
      const terminated = await admin`
        SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = ${applicationName}`;
      expect(terminated.length).toBeGreaterThan(0);
      await untilHealthy(store);
      // Once one call went through, the rest of the pool follows: every later call succeeds.
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => store.decide([op(`after-${i}`)], 0)),
      );
      const failures = results.filter((r) => r.status === "rejected");
      for (const failure of failures) expect(isStoreError(failure.reason)).toBe(true);
      await untilHealthy(store);
      expect((await store.decide([op("final")], 0)).allowed).toBe(true);
    } finally {
      await admin.end({ timeout: 1 });
      await store.close();
    }
  });

  it("every failure is a StoreError without the password, even before the first connection", async () => {
    const url = `postgres://postgres:s3cr3t-pw@127.0.0.1:${proxy.port}/test`;
    proxy.cut();
    const store = new PostgresStore({ ...config, url });
    try {
      const error = await store.decide([op("x")], 0).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StoreError);
      expect(String((error as Error).message)).not.toContain("s3cr3t-pw");
    } finally {
      proxy.restore();
      await store.close();
    }
  });
});
