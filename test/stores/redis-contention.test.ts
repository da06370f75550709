/**
 * Exactness under contention: 4 worker processes, each with 64 calls in flight, all on one key.
 */

import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import type { LimitParams } from "../../src/algorithms/types.ts";
import { requireRedis, uniqueName } from "../helpers/stores.ts";
import { deleteByPrefix } from "./redis/setup.ts";
import { startWorkers } from "./redis/workers.ts";

const redis = await requireRedis();
const WORKERS = 4;
const IN_FLIGHT = 64;
const PER_WORKER = 160;
const LIMIT = 100;
/** A window no run can straddle: windows align to the epoch, so a short one could roll over mid-test. */
const HUGE_WINDOW_MS = 1e12;

describe.skipIf(!redis.available)("redis store under contention (4 processes × 64 in flight)", () => {
  const keyPrefix = uniqueName("redis_contention");
  const raw = new Redis(redis.url);
  afterAll(async () => {
    await deleteByPrefix(raw, keyPrefix);
    raw.disconnect();
  });

  async function admitted(params: LimitParams, key: string): Promise<number> {
    const workers = await startWorkers(WORKERS, {
      url: redis.url,
      keyPrefix,
      params,
      key,
      total: PER_WORKER,
      inFlight: IN_FLIGHT,
      holdMs: 0,
    });
    const reports = await Promise.all(workers.map((w) => w.report));
    expect(reports.reduce((n, r) => n + r.errors, 0)).toBe(0);
    expect(reports.reduce((n, r) => n + r.allowed + r.denied, 0)).toBe(WORKERS * PER_WORKER);
    return reports.reduce((n, r) => n + r.allowed, 0);
  }

  it("fixed_window admits exactly the limit", async () => {
    expect(await admitted({ kind: "fixed_window", limit: LIMIT, windowMs: HUGE_WINDOW_MS }, "fw")).toBe(
      LIMIT,
    );
  }, 60_000);

  it("token_bucket admits exactly the burst", async () => {
    // One token per hour: nothing refills during the test.
    expect(await admitted({ kind: "token_bucket", intervalMs: 3_600_000, burst: LIMIT }, "tb")).toBe(LIMIT);
  }, 60_000);

  it("sliding_window never admits more than the limit", async () => {
    const n = await admitted({ kind: "sliding_window", limit: LIMIT, windowMs: 3_600_000 }, "sw");
    expect(n).toBeLessThanOrEqual(LIMIT);
    expect(n).toBe(LIMIT); // nothing leaves the window during the test, so the limit is reached exactly
  }, 60_000);

  it("sliding_window_counter never admits more than the limit", async () => {
    const n = await admitted(
      { kind: "sliding_window_counter", limit: LIMIT, windowMs: HUGE_WINDOW_MS },
      "sc",
    );
    expect(n).toBeLessThanOrEqual(LIMIT);
  }, 60_000);

  it("concurrency never has more than N leases at any instant", async () => {
    const N = 5;
    const workers = await startWorkers(WORKERS, {
      url: redis.url,
      keyPrefix,
      params: { kind: "concurrency", maxConcurrent: N, leaseMs: 30_000 },
      key: "cc",
      total: 120,
      inFlight: IN_FLIGHT,
      holdMs: 3,
    });
    const reports = await Promise.all(workers.map((w) => w.report));
    expect(reports.reduce((n, r) => n + r.errors, 0)).toBe(0);
    // Each hold runs from its grant (store time) to when its release was sent (same host clock): a sub-interval
    // of the real hold, so any overlap of N + 1 here was a real one.
    const events: [number, number][] = [];
    for (const report of reports) {
      for (const [start, end] of report.holds) {
        expect(end).toBeGreaterThanOrEqual(start - 5);
        events.push([start, 1], [end, -1]);
      }
    }
    // At equal times, count releases first: touching intervals do not overlap.
    events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let held = 0;
    let peak = 0;
    for (const [, delta] of events) {
      held += delta;
      peak = Math.max(peak, held);
    }
    expect(peak).toBeLessThanOrEqual(N);
    expect(peak).toBeGreaterThan(1); // the test did exercise concurrency
    expect(reports.reduce((n, r) => n + r.allowed, 0)).toBeGreaterThanOrEqual(N);
  }, 60_000);
});
