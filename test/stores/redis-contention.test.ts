/**
 * Exactness under contention: 4 worker processes, each with 64 calls in flight (so batched with each other in
 * every turn), all on one key, and every algorithm on one key and on 10k keys.
 */

import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { requireRedis, uniqueName } from "../helpers/stores.ts";
import { deleteByPrefix } from "./redis/setup.ts";
import { admittedBy, contentionLimits, startWorkers } from "./redis/workers.ts";

const redis = await requireRedis();
const WORKERS = 4;
const IN_FLIGHT = 64;
const PER_WORKER = 160;
const LIMIT = 100;
/** Keys of the spread runs, and the limit of each: every key gets one call from each worker. */
const SPREAD_KEYS = 10_000;
const SPREAD_LIMIT = 2;

describe.skipIf(!redis.available)("redis store under contention (4 processes × 64 in flight)", () => {
  const keyPrefix = uniqueName("redis_contention");
  const raw = new Redis(redis.url);
  afterAll(async () => {
    await deleteByPrefix(raw, keyPrefix);
    raw.disconnect();
  });

  for (const { params, extra } of contentionLimits(LIMIT)) {
    it(`${params.kind}, hot key: admits exactly the limit`, async () => {
      const n = await admittedBy(WORKERS, {
        url: redis.url,
        keyPrefix,
        params,
        key: `hot-${params.kind}`,
        total: PER_WORKER,
        inFlight: IN_FLIGHT,
        holdMs: 0,
        ...extra,
      });
      expect(n).toBe(LIMIT);
    }, 60_000);
  }

  for (const { params, extra } of contentionLimits(SPREAD_LIMIT)) {
    it(`${params.kind}, ${SPREAD_KEYS} keys: each key admits exactly the limit`, async () => {
      const n = await admittedBy(WORKERS, {
        url: redis.url,
        keyPrefix,
        params,
        key: `spread-${params.kind}`,
        keys: SPREAD_KEYS,
        // Each worker calls every key SPREAD_LIMIT times: the workers race on each key together.
        total: SPREAD_KEYS * SPREAD_LIMIT,
        inFlight: IN_FLIGHT,
        holdMs: 0,
        ...extra,
      });
      expect(n).toBe(SPREAD_KEYS * SPREAD_LIMIT);
    }, 120_000);
  }

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
