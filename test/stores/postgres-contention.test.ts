/**
 * Exactness under contention on the PostgreSQL store: four real processes, 64 calls in flight each, on one hot
 * key and spread over 10,000 keys. No process may ever see a lock error, and the admissions across processes
 * must be exactly the limit. Throughput is printed (a measurement, never asserted).
 *
 * The calls of one event-loop turn go as one batch statement, so with 64 in flight most calls are decided in
 * batches that lock overlapping rows in different processes; a lone call takes the single-call statements (its
 * plain-SQL statement or the lean function for one rate op, the batch function for the rest). The mixed tests
 * put processes on the lean and the general paths on the same rows.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LimitParams } from "../../src/algorithms/types.ts";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.ts";
import { requirePostgres } from "../helpers/stores.ts";
import { DAY_MS, HOT_CASES, PROCESSES, SPREAD_CASES, tally } from "./contention-cases.ts";
import type { WorkerReport, WorkerTask } from "./postgres/contention-worker.ts";
import { dropStoreObjects, testConfig } from "./postgres/setup.ts";
import { runWorkers } from "./postgres/workers.ts";

const postgres = await requirePostgres();
const config = testConfig("pg_contention", { url: postgres.url, poolMaxSize: 8, timeoutMs: 20_000 });
const IN_FLIGHT = 64;

/** {@link tally}, plus the batch counts and sizes the PostgreSQL workers report. */
function total(reports: readonly WorkerReport[]) {
  const sum = (f: (r: WorkerReport) => number) => reports.reduce((acc, r) => acc + f(r), 0);
  return {
    ...tally(reports),
    batches: sum((r) => r.batches),
    batchSizes: reports
      .map((r) => r.batchSizes)
      .reduce((acc, sizes) => sizes.map((n, i) => n + (acc[i] ?? 0)).concat(acc.slice(sizes.length)), []),
  };
}

let run = 0;
async function hammer(
  params: LimitParams,
  callsPerProcess: number,
  keys: number,
  extra: Partial<WorkerTask> = {},
) {
  run += 1;
  const limiterId = `contention-${run}`;
  const reports = await runWorkers(
    Array.from({ length: PROCESSES }, (_, i) => ({
      config,
      limiterId,
      params,
      calls: callsPerProcess,
      inFlight: IN_FLIGHT,
      keys,
      ...(extra.composite === undefined ? {} : { composite: { ...extra.composite, reverse: i % 2 === 1 } }),
      // mixed: odd processes decide single ops through the general function
      ...(extra.general === true && i % 2 === 1 ? { general: true } : {}),
    })),
  );
  const result = total(reports);
  console.log(
    `[postgres contention] ${params.kind}${extra.composite ? " composite" : ""}` +
      `${extra.general ? " lean+general" : ""} keys=${keys}: ` +
      `${result.calls} calls, ${result.allowed} allowed, ${result.errors} errors, ~${result.perSecond} decisions/s, ` +
      `${result.batches} batches (sizes by powers of two: ${result.batchSizes.join(" ")})`,
  );
  return result;
}

describe.skipIf(!postgres.available)("PostgreSQL store under contention (4 processes × 64 in flight)", () => {
  beforeAll(async () => {
    // Create the schema once, so the workers' concurrent auto-create only finds it (that race is tested apart).
    const store = new PostgresStore(config, { cleanupIntervalMs: 0 });
    await store.ensureReady();
    await store.close();
  });

  afterAll(async () => {
    await dropStoreObjects(config);
  });

  for (const [name, params, expected] of HOT_CASES) {
    it(`${name}: one hot key admits exactly ${expected} of 800`, { timeout: 60_000 }, async () => {
      const result = await hammer(params, 200, 1);
      expect(result.errors, result.firstError).toBe(0);
      expect(result.allowed).toBe(expected);
      expect(result.denied).toBe(PROCESSES * 200 - expected);
    });
  }

  for (const [name, params, perKey] of SPREAD_CASES) {
    it(`${name} over 10,000 keys: exactly ${perKey} per key`, { timeout: 120_000 }, async () => {
      const result = await hammer(params, 10_000, 10_000);
      expect(result.errors, result.firstError).toBe(0);
      expect(result.allowed).toBe(10_000 * perKey);
    });
  }

  const mixed: [string, LimitParams][] = [
    ["token_bucket", { kind: "token_bucket", intervalMs: DAY_MS, burst: 100 }],
    ["sliding_window", { kind: "sliding_window", limit: 100, windowMs: DAY_MS }],
    ["sliding_window_counter", { kind: "sliding_window_counter", limit: 100, windowMs: DAY_MS }],
  ];
  for (const [name, params] of mixed) {
    it(`${name}: lean and general paths on one hot key admit exactly 100 of 800`, {
      timeout: 60_000,
    }, async () => {
      const result = await hammer(params, 200, 1, { general: true });
      expect(result.errors, result.firstError).toBe(0);
      expect(result.allowed).toBe(100);
      expect(result.denied).toBe(PROCESSES * 200 - 100);
    });
  }

  it("fixed_window over 10,000 keys, lean and general paths: exactly 3 per key", {
    timeout: 120_000,
  }, async () => {
    const result = await hammer({ kind: "fixed_window", limit: 3, windowMs: DAY_MS }, 10_000, 10_000, {
      general: true,
    });
    expect(result.errors, result.firstError).toBe(0);
    expect(result.allowed).toBe(30_000);
  });

  it("composites locking two rows in opposite orders never deadlock", { timeout: 60_000 }, async () => {
    const result = await hammer({ kind: "fixed_window", limit: 150, windowMs: DAY_MS }, 200, 1, {
      composite: { reverse: false },
    });
    expect(result.errors, result.firstError).toBe(0);
    // Both members share the limit: each allowed composite takes one unit of each.
    expect(result.allowed).toBe(150);
  });

  it("batches of composites over overlapping keys, in opposite orders, never deadlock", {
    timeout: 120_000,
  }, async () => {
    // Each call takes one unit of two of 200 keys; every key's limit is far off, so every call is admitted,
    // and any lock-order deadlock between the processes' batches would surface as an error.
    const result = await hammer({ kind: "fixed_window", limit: 1_000_000, windowMs: DAY_MS }, 3_000, 1, {
      composite: { reverse: false, spread: 200 },
    });
    expect(result.errors, result.firstError).toBe(0);
    expect(result.allowed).toBe(PROCESSES * 3_000);
  });
});
