/**
 * @module
 * One suite of "the counters say what happened" scenarios, run against every store that can take it (memory,
 * Redis). Each scenario does a known sequence of calls and checks every counter of the limiters involved, so a
 * counter that moves when it should not fails as surely as one that does not move.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LimiterCounters, RateLimitExceededError, RateSync } from "../../src/index.ts";

/** How a store under test is configured, and what it does beyond the memory store. */
export interface CountingTarget {
  /** The `[stores.s]` table body (TOML), for a store with id `s`. */
  readonly storeToml: string;
  /** Whether repeated denials of one key are answered by the local over-limit cache. */
  readonly overLimitCache: boolean;
}

const LIMITERS = `
[limiters.win]
store = "s"
algorithm = "fixed_window"
limit = 3
window = "1h"

[limiters.dry]
store = "s"
algorithm = "fixed_window"
limit = 1
window = "1h"
shadow = true

[limiters.drybucket]
store = "s"
rate = "1/h"
burst = 1
shadow = true

[limiters.bucket]
store = "s"
rate = "20/s"
burst = 1

[limiters.edge]
store = "s"
algorithm = "fixed_window"
limit = 1
window = "300ms"

[limiters.conc]
store = "s"
max_concurrent = 1

[limiters.tight]
store = "s"
algorithm = "fixed_window"
limit = 1
window = "1h"

[limiters.a]
store = "s"
algorithm = "fixed_window"
limit = 1
window = "1h"

[limiters.b]
store = "s"
algorithm = "fixed_window"
limit = 5
window = "1h"

[limiters."user:<id>"]
store = "s"
algorithm = "fixed_window"
limit = 1
window = "1h"
`;

/** Zeroed counters with `changes` applied: the exact expectation of a scenario. */
export function counters(
  changes: Partial<Omit<LimiterCounters, "waitMs">> = {},
): Omit<LimiterCounters, "waitMs"> {
  return {
    allowed: 0,
    denied: 0,
    shadowDenied: 0,
    waited: 0,
    timeouts: 0,
    storeErrors: 0,
    localCacheHits: 0,
    degraded: 0,
    allowedByList: 0,
    deniedByList: 0,
    waiting: 0,
    activeLeases: 0,
    ...changes,
  };
}

/** The counters of one limiter without the wait statistics (checked on their own). */
export function countsOf(rs: RateSync, id: string): Omit<LimiterCounters, "waitMs"> {
  const found = rs.metrics().limiters[id];
  if (!found) throw new Error(`no counters for ${id}`);
  const { waitMs: _waitMs, ...rest } = found;
  return rest;
}

/** Registers the counting scenarios for one store. */
export function describeCounting(label: string, target: () => CountingTarget): void {
  describe(`counters match what happened (${label})`, () => {
    let rs: RateSync;

    beforeAll(() => {
      const { storeToml } = target();
      rs = RateSync.fromToml(`[stores.s]\n${storeToml}\n${LIMITERS}`);
    });
    afterAll(async () => {
      await rs?.close();
    });

    it("counts allowed and denied tryAcquire calls", async () => {
      const allowed: boolean[] = [];
      for (let i = 0; i < 5; i++) allowed.push((await rs.tryAcquire("win")).allowed);
      expect(allowed).toEqual([true, true, true, false, false]);
      // The first denial reaches the store; later ones may be answered by the over-limit cache.
      const cacheHits = target().overLimitCache ? 1 : 0;
      expect(countsOf(rs, "win")).toEqual(counters({ allowed: 3, denied: 2, localCacheHits: cacheHits }));
    });

    it("counts what a shadow limiter would have denied, lets it through, and never makes a call wait", async () => {
      for (let i = 0; i < 3; i++) expect((await rs.tryAcquire("dry")).allowed).toBe(true);
      const cacheHits = target().overLimitCache ? 1 : 0;
      expect(countsOf(rs, "dry")).toEqual(
        counters({ allowed: 3, shadowDenied: 2, localCacheHits: cacheHits }),
      );

      // A shadow token bucket empty for an hour: acquire() goes ahead at once instead of reserving a slot.
      const first = await rs.acquire("drybucket", { timeout: "10s" });
      const second = await rs.acquire("drybucket", { timeout: "10s" });
      expect(first.waitedMs).toBeLessThan(1000);
      expect(second.waitedMs).toBeLessThan(1000);
      expect(second.decision.degraded).toBe("shadow");
      expect(countsOf(rs, "drybucket")).toEqual(counters({ allowed: 2, shadowDenied: 1 }));
    });

    it("counts reserved waits of a token bucket with their duration", async () => {
      const leases = [];
      for (let i = 0; i < 3; i++) leases.push(await rs.acquire("bucket", { timeout: "5s" }));
      expect(countsOf(rs, "bucket")).toEqual(counters({ allowed: 3, waited: 2 }));
      const wait = rs.metrics().limiters.bucket!.waitMs;
      expect(wait.count).toBe(2);
      // Waits the call saw are the waits counted: same sum, same maximum.
      const seen = leases.slice(1).map((lease) => lease.waitedMs);
      expect(wait.sumMs).toBeCloseTo(seen[0]! + seen[1]!, 6);
      expect(wait.maxMs).toBeCloseTo(Math.max(...seen), 6);
      expect(wait.maxMs).toBeGreaterThan(0);
    });

    it("counts an acquire that retried at a window edge once, as allowed (its tries are not denials)", async () => {
      await rs.acquire("edge", { timeout: "5s" });
      const second = await rs.acquire("edge", { timeout: "5s" });
      expect(second.waitedMs).toBeGreaterThan(0);
      expect(countsOf(rs, "edge")).toMatchObject({ allowed: 2, denied: 0, waited: 1, timeouts: 0 });
    });

    it("counts an acquire that waited for a concurrency slot once, and one that gave up as denied and timed out", async () => {
      const held = await rs.acquire("conc");
      const released = new Promise<void>((resolve) =>
        setTimeout(() => void held.release().then(resolve), 300),
      );
      const waiter = await rs.acquire("conc", { timeout: "5s" });
      await released;
      // The waiter holds its slot: the gauge says so until it is released below.
      expect(countsOf(rs, "conc")).toEqual(counters({ allowed: 2, waited: 1, activeLeases: 1 }));

      await expect(rs.acquire("conc", { timeout: "150ms" })).rejects.toBeInstanceOf(RateLimitExceededError);
      await waiter.release();
      expect(countsOf(rs, "conc")).toEqual(counters({ allowed: 2, waited: 1, denied: 1, timeouts: 1 }));
    });

    it("counts an acquire rejected at once by its timeout as denied and timed out", async () => {
      await rs.acquire("tight");
      await expect(rs.acquire("tight", { timeout: "100ms" })).rejects.toBeInstanceOf(RateLimitExceededError);
      expect(countsOf(rs, "tight")).toMatchObject({ allowed: 1, denied: 1, timeouts: 1, waited: 0 });
    });

    it("counts a composite per member: the one that denied, not the one refunded", async () => {
      expect((await rs.tryAcquire(["a", "b"])).allowed).toBe(true);
      expect((await rs.tryAcquire(["a", "b"])).allowed).toBe(false);
      expect(countsOf(rs, "a")).toMatchObject({ allowed: 1, denied: 1, shadowDenied: 0 });
      expect(countsOf(rs, "b")).toMatchObject({ allowed: 1, denied: 0 });
      // b's pass in the denied call was given back.
      expect((await rs.peek("b")).remaining).toBe(4);
    });

    it("counts every key of a template under the template's id", async () => {
      for (let i = 0; i < 50; i++) await rs.tryAcquire(`user:${i}`);
      await rs.tryAcquire("user:0");
      const limiters = rs.metrics().limiters;
      expect(Object.keys(limiters).filter((id) => id.startsWith("user"))).toEqual(["user:<id>"]);
      expect(countsOf(rs, "user:<id>")).toMatchObject({ allowed: 50, denied: 1 });
    });
  });
}
