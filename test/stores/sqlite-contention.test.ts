/**
 * Exactness under contention on the SQLite store: four real processes on one database file, on one hot key
 * and spread over 10,000 keys, half of them on the synchronous path (`decideNow`, what `tryAcquireSync`
 * takes). No process may see an error, and the admissions across processes must be exactly the limit.
 * Throughput is printed (a measurement, never asserted).
 */

import { afterAll, describe, expect, it } from "vitest";
import type { LimitParams } from "../../src/algorithms/types.ts";
import { SqliteStore } from "../../src/stores/sqlite/sqlite-store.ts";
import { DAY_MS, HOT_CASES, PROCESSES, SPREAD_CASES, tally } from "./contention-cases.ts";
import type { WorkerTask } from "./sqlite/contention-worker.ts";
import { tempDatabases } from "./sqlite/setup.ts";
import { runWorkers } from "./sqlite/workers.ts";

const databases = tempDatabases("contention");
// A generous lock wait: four processes take turns on one write lock, and a slow machine must not fail a call.
const config = databases.config("contention", { busyTimeoutMs: 20_000 });

let run = 0;
async function hammer(
  params: LimitParams,
  callsPerProcess: number,
  keys: number,
  extra: Pick<WorkerTask, "composite"> = {},
) {
  run += 1;
  const limiterId = `contention-${run}`;
  const reports = await runWorkers(
    Array.from(
      { length: PROCESSES },
      (_, i): WorkerTask => ({
        config,
        limiterId,
        params,
        calls: callsPerProcess,
        keys,
        // Odd processes decide synchronously: both paths take the same transaction on the same rows.
        sync: i % 2 === 1,
        ...(extra.composite === undefined ? {} : { composite: { reverse: i % 2 === 1 } }),
      }),
    ),
  );
  const result = tally(reports);
  console.log(
    `[sqlite contention] ${params.kind}${extra.composite ? " composite" : ""} keys=${keys}: ` +
      `${result.calls} calls, ${result.allowed} allowed, ${result.errors} errors, ~${result.perSecond} decisions/s`,
  );
  return result;
}

describe("SQLite store under contention (4 processes, one database file)", () => {
  afterAll(() => databases.remove());

  it("four processes opening a new file at once all get a working store", { timeout: 60_000 }, async () => {
    // The first test: the file does not exist yet, so the workers race to create it, switch it to WAL and
    // create the table.
    const result = await hammer({ kind: "fixed_window", limit: 10, windowMs: DAY_MS }, 10, 1);
    expect(result.errors, result.firstError).toBe(0);
    expect(result.allowed).toBe(10);
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
      // 4 processes × 10,000 calls, every key hit 4 times.
      const result = await hammer(params, 10_000, 10_000);
      expect(result.errors, result.firstError).toBe(0);
      expect(result.allowed).toBe(10_000 * perKey);
    });
  }

  it("composites over two keys in opposite orders are all or nothing", { timeout: 60_000 }, async () => {
    const result = await hammer({ kind: "fixed_window", limit: 150, windowMs: DAY_MS }, 200, 1, {
      composite: { reverse: false },
    });
    expect(result.errors, result.firstError).toBe(0);
    // Both members share the limit: each allowed composite takes one unit of each.
    expect(result.allowed).toBe(150);
    const store = new SqliteStore(config, { sweepIntervalMs: 0 });
    const params = { kind: "fixed_window", limit: 150, windowMs: DAY_MS } as const;
    for (const key of ["left", "right"]) {
      const view = await store.peek({ limiterId: `contention-${run}`, key, params, cost: 1 });
      expect(view.remaining).toBe(0);
    }
    await store.close();
  });
});
