/**
 * `rs.refund(key, units)` and `handle.refund(units)` through the facade, on every store: memory, a real Redis, a
 * real PostgreSQL and a SQLite file. A refund gives back what an estimate over-consumed, never beyond an empty
 * state; every limit of a multi-limit limiter and every member of a composite is refunded; a concurrency limit
 * and bad units are handled as documented. `rs.charge(key, units)` and `handle.charge(units)` on the same stores:
 * units beyond the limit (debt), denied with a retry hint that covers it, taken back by a refund.
 */

import { afterAll, afterEach, describe, expect, it } from "vitest";
import { InvalidArgumentError, RateSync, UnknownLimiterError } from "../../src/index.ts";
import { type Backend, facadeBackends } from "../helpers/facade-backends.ts";
import { expectRefundContentionHolds } from "../helpers/refund-contention.ts";
import { uniqueName } from "../helpers/stores.ts";

const backends = await facadeBackends("refund");

/** A fixed window that never rolls over during a test. */
const window = (limit: number) => ({ algorithm: "fixed_window", limit, window: "3650d" });
/** A token bucket that refills one unit an hour: nothing comes back by itself during a test. */
const bucket = (burst: number) => ({ rate: "1/h", burst });

/** An instance on the backend's store with the limiters every test here uses. */
function instance(backend: Backend): RateSync {
  return RateSync.fromConfig(
    {
      stores: { main: backend.store },
      limiters: {
        "win:<id>": window(10),
        "tb:<id>": bucket(10),
        "multi:<id>": { limits: [bucket(10), window(6)] },
        "slots:<id>": { max_concurrent: 1, lease: "1h" },
        "log:<id>": { algorithm: "sliding_window", limit: 10, window: "1h" },
        "counter:<id>": { algorithm: "sliding_window_counter", limit: 10, window: "3650d" },
        "leaky:<id>": { algorithm: "leaky_bucket", rate: "1/h", burst: 10 },
        // One window of ten years (no rollover during a test), its cap the limit: 10 units, one per year.
        "adaptive:<id>": {
          algorithm: "adaptive",
          limit: 10,
          window: "3650d",
          adaptive_window: "3650d",
          burst_multiplier: 1,
        },
        "adaptive-h:<id>": {
          algorithm: "adaptive",
          limit: 10,
          window: "1h",
          adaptive_window: "1h",
          burst_multiplier: 1,
        },
      },
    },
    { quiet: true },
  );
}

describe.each(backends)("refund on the $name store", (backend) => {
  // Cleaned up after the charge tests below, which run on the same stores.
  afterEach(() => backend.empty());

  it("gives back the unused part of an estimate on a fixed window, never below an empty window", async () => {
    const rs = instance(backend);
    try {
      expect((await rs.tryAcquire("win:1", { cost: 8 })).remaining).toBe(2);
      expect((await rs.tryAcquire("win:1", { cost: 3 })).allowed).toBe(false);
      await rs.refund("win:1", 5);
      expect((await rs.peek("win:1")).remaining).toBe(7);
      expect((await rs.tryAcquire("win:1", { cost: 3 })).allowed).toBe(true);
      await rs.refund("win:1", 1000);
      expect((await rs.peek("win:1")).remaining).toBe(10);
      // An over-refund leaves no credit: the capacity is still the limit.
      expect((await rs.tryAcquire("win:1", { cost: 11 })).allowed).toBe(false);
      expect((await rs.tryAcquire("win:1", { cost: 10 })).allowed).toBe(true);
      // Another key is untouched.
      expect((await rs.peek("win:2")).remaining).toBe(10);
    } finally {
      await rs.close();
    }
  });

  it("gives back tokens on a token bucket, never beyond a full bucket", async () => {
    const rs = instance(backend);
    try {
      const handle = rs.limiter("tb:1");
      expect((await handle.tryAcquire({ cost: 8 })).remaining).toBe(2);
      await handle.refund(5);
      expect((await handle.peek()).remaining).toBe(7);
      await handle.refund(50);
      expect((await handle.peek()).remaining).toBe(10);
      expect((await handle.tryAcquire({ cost: 11 })).allowed).toBe(false);
    } finally {
      await rs.close();
    }
  });

  it.each(["log", "counter"])(
    "gives back units on the %s algorithm, never beyond an empty state",
    async (algo) => {
      const rs = instance(backend);
      try {
        const key = `${algo}:1`;
        expect((await rs.tryAcquire(key, { cost: 5 })).allowed).toBe(true);
        expect((await rs.tryAcquire(key, { cost: 3 })).allowed).toBe(true);
        expect((await rs.tryAcquire(key, { cost: 3 })).allowed).toBe(false);
        // Not the cost of any one call: taken off the newest entries of a log.
        await rs.refund(key, 4);
        expect((await rs.tryAcquire(key, { cost: 7 })).allowed).toBe(false);
        expect((await rs.tryAcquire(key, { cost: 6 })).allowed).toBe(true);
        await rs.refund(key, 100);
        expect((await rs.tryAcquire(key, { cost: 11 })).allowed).toBe(false);
        expect((await rs.tryAcquire(key, { cost: 10 })).allowed).toBe(true);
      } finally {
        await rs.close();
      }
    },
  );

  it("gives back queue room on a leaky bucket, never beyond an empty queue", async () => {
    const rs = instance(backend);
    try {
      expect((await rs.tryAcquire("leaky:1", { cost: 6 })).remaining).toBe(4);
      await rs.refund("leaky:1", 4);
      expect((await rs.peek("leaky:1")).remaining).toBe(8);
      await rs.refund("leaky:1", 100);
      expect((await rs.peek("leaky:1")).remaining).toBe(10);
      // An empty queue again: a strict-rate `tryAcquire` goes through.
      expect((await rs.tryAcquire("leaky:1", { cost: 10 })).allowed).toBe(true);
    } finally {
      await rs.close();
    }
  });

  it("refunds every limit of a multi-limit limiter and every member of a composite", async () => {
    const rs = instance(backend);
    try {
      expect((await rs.tryAcquire(["multi:1", "win:3"], { cost: 6 })).allowed).toBe(true);
      expect((await rs.tryAcquire("multi:1", { cost: 1 })).allowed).toBe(false);
      await rs.refund(["multi:1", "win:3"], 4);
      const multi = await rs.peek("multi:1");
      expect(multi.limits!.map((l) => l.remaining)).toEqual([8, 4]);
      expect((await rs.peek("win:3")).remaining).toBe(8);
      expect((await rs.tryAcquire("multi:1", { cost: 4 })).allowed).toBe(true);
      expect((await rs.tryAcquire("multi:1", { cost: 1 })).allowed).toBe(false);
    } finally {
      await rs.close();
    }
  });

  it("leaves a concurrency limit alone: a slot comes back only by releasing its lease", async () => {
    const rs = instance(backend);
    try {
      const lease = await rs.acquire("slots:1");
      await rs.refund("slots:1", 1);
      expect((await rs.tryAcquire("slots:1")).allowed).toBe(false);
      await lease.release();
      expect((await rs.tryAcquire("slots:1")).allowed).toBe(true);
    } finally {
      await rs.close();
    }
  });

  it("run with actualCost refunds what the work did not use and charges the excess, on every limit", async () => {
    const rs = instance(backend);
    try {
      const used = await rs.run("multi:2", async () => ({ tokens: 2 }), {
        cost: 5,
        actualCost: (r) => r.tokens,
      });
      expect(used).toEqual({ tokens: 2 });
      expect((await rs.peek("multi:2")).limits!.map((l) => l.remaining)).toEqual([8, 4]);
      // Through a handle, and more than the estimate: the excess (6) is charged beyond both limits.
      await rs.limiter("multi:2").run(() => 9, { cost: 3, actualCost: (n) => n });
      expect((await rs.peek("multi:2")).limits!.map((l) => l.remaining)).toEqual([0, 0]);
      expect((await rs.tryAcquire("multi:2")).allowed).toBe(false);
      await rs.refund("multi:2", 6);
      expect((await rs.peek("multi:2")).limits!.map((l) => l.remaining)).toEqual([5, 1]);
      // A work that throws refunds nothing and `actualCost` is not asked.
      let asked = false;
      await expect(
        rs.run(
          "win:4",
          () => {
            throw new Error("boom");
          },
          {
            cost: 4,
            actualCost: () => {
              asked = true;
              return 0;
            },
          },
        ),
      ).rejects.toThrow("boom");
      expect(asked).toBe(false);
      expect((await rs.peek("win:4")).remaining).toBe(6);
      // A bad actual cost is named.
      await expect(rs.run("win:4", () => "x", { cost: 1, actualCost: () => Number.NaN })).rejects.toThrow(
        /actualCost/,
      );
    } finally {
      await rs.close();
    }
  });

  it("refuses units that are not a positive finite number, and unknown keys", async () => {
    const rs = instance(backend);
    try {
      for (const units of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "3" as unknown as number]) {
        await expect(rs.refund("win:1", units)).rejects.toThrow(InvalidArgumentError);
        await expect(rs.refund("win:1", units)).rejects.toThrow(
          /^refund units must be a positive finite number/,
        );
      }
      await expect(rs.refund("nowhere", 1)).rejects.toThrow(UnknownLimiterError);
    } finally {
      await rs.close();
    }
  });
});

// Under contention, refunds and settles never let the actual usage past the limit (see refund-contention.ts).
describe.each(backends.filter((b) => b.name === "redis" || b.name === "postgres"))(
  "refund under contention on the $name store",
  (backend) => {
    afterAll(() => backend.cleanup());

    it.each(["refund", "settle"] as const)(
      "through %s: the actual usage of admitted calls never exceeds the limit, and the count is exactly it",
      async (via) => {
        const limit = 500;
        const key = uniqueName("contended");
        const config = { stores: { main: backend.store }, limiters: { [key]: window(limit) } };
        await expectRefundContentionHolds({ config, key, limit, estimate: 10, via });
      },
      60_000,
    );
  },
);

const HOUR = 3_600_000;

describe.each(backends)("charge on the $name store", (backend) => {
  afterEach(() => backend.empty());
  afterAll(() => backend.cleanup());

  it("counts a fixed window and a sliding counter above the limit, until a refund takes it back", async () => {
    const rs = instance(backend);
    try {
      for (const key of ["win:c1", "counter:c1"]) {
        expect((await rs.tryAcquire(key, { cost: 8 })).remaining).toBe(2);
        await rs.charge(key, 5);
        expect((await rs.peek(key)).remaining).toBe(0);
        const denied = await rs.tryAcquire(key);
        expect(denied.allowed, key).toBe(false);
        // Not before the window (ten years long here) moves on.
        expect(denied.retryAfterMs, key).toBeGreaterThan(HOUR);
        await rs.refund(key, 5);
        expect((await rs.peek(key)).remaining, key).toBe(2);
        expect((await rs.tryAcquire(key, { cost: 2 })).allowed, key).toBe(true);
      }
      // A charge on a key with no state starts from an empty window.
      await rs.charge("win:c2", 12);
      expect((await rs.tryAcquire("win:c2")).allowed).toBe(false);
      await rs.refund("win:c2", 12);
      expect((await rs.tryAcquire("win:c2", { cost: 10 })).allowed).toBe(true);
    } finally {
      await rs.close();
    }
  });

  it("puts a token and a leaky bucket into debt: denied until it drains, the retry hint covering it", async () => {
    const rs = instance(backend);
    try {
      // 13 units of a bucket of 10 that drains one an hour. The token bucket owes 3, so one more unit needs 4
      // hours; the leaky bucket admits a call without a wait only once its whole line (13 hours) has drained.
      for (const [key, hours] of [
        ["tb:c1", 4],
        ["leaky:c1", 13],
      ] as const) {
        await rs.charge(key, 13);
        const denied = await rs.tryAcquire(key);
        expect(denied.allowed, key).toBe(false);
        expect(denied.remaining, key).toBe(0);
        expect(denied.retryAfterMs, key).toBeGreaterThan(hours * HOUR - 60_000);
        expect(denied.retryAfterMs, key).toBeLessThanOrEqual(hours * HOUR);
        // Handle and facade charge the same state: one unit more is one hour more.
        await rs.limiter(key).charge(1);
        expect((await rs.tryAcquire(key)).retryAfterMs, key).toBeGreaterThan((hours + 1) * HOUR - 60_000);
        await rs.refund(key, 14);
        expect((await rs.peek(key)).remaining, key).toBe(10);
        expect((await rs.tryAcquire(key, { cost: 10 })).allowed, key).toBe(true);
      }
    } finally {
      await rs.close();
    }
  });

  it("charges every limit of a limiter and every member of a composite; leaves concurrency alone", async () => {
    const rs = instance(backend);
    try {
      await rs.charge("multi:c1", 7);
      expect((await rs.peek("multi:c1")).limits!.map((l) => l.remaining)).toEqual([3, 0]);
      await rs.charge(["win:c3", "tb:c3"], 11);
      expect((await rs.tryAcquire("win:c3")).allowed).toBe(false);
      expect((await rs.tryAcquire("tb:c3")).allowed).toBe(false);
      await rs.charge("slots:c1", 5);
      expect((await rs.tryAcquire("slots:c1")).allowed).toBe(true);
    } finally {
      await rs.close();
    }
  });

  it("forgets a cached denial: the retry hint after a charge covers the new debt", async () => {
    const rs = instance(backend);
    try {
      expect((await rs.tryAcquire("tb:c4", { cost: 10 })).allowed).toBe(true);
      const before = await rs.tryAcquire("tb:c4");
      expect(before.allowed).toBe(false);
      await rs.charge("tb:c4", 2);
      const after = await rs.tryAcquire("tb:c4");
      expect(after.allowed).toBe(false);
      expect(after.retryAfterMs).toBeGreaterThan(before.retryAfterMs + HOUR);
    } finally {
      await rs.close();
    }
  });

  it("puts a sliding window log into debt: denied until the entries leave the window or a refund", async () => {
    const rs = instance(backend);
    try {
      expect((await rs.tryAcquire("log:c1", { cost: 4 })).allowed).toBe(true);
      // 4 + 8 units in a log of 10 per hour: 2 over the limit; the first entry's departure makes room for one.
      await rs.charge("log:c1", 8);
      expect((await rs.peek("log:c1")).remaining).toBe(0);
      const denied = await rs.tryAcquire("log:c1");
      expect(denied.allowed).toBe(false);
      expect(denied.retryAfterMs).toBeGreaterThan(HOUR - 60_000);
      expect(denied.retryAfterMs).toBeLessThanOrEqual(HOUR);
      // Charges in a row add up (also through a handle), and a refund takes them back.
      await rs.limiter("log:c1").charge(1);
      expect((await rs.tryAcquire("log:c1")).allowed).toBe(false);
      await rs.refund("log:c1", 9);
      expect((await rs.peek("log:c1")).remaining).toBe(6);
      expect((await rs.tryAcquire("log:c1", { cost: 6 })).allowed).toBe(true);
      // A charge on a key with no state starts from an empty log.
      await rs.charge("log:c2", 13);
      const empty = await rs.tryAcquire("log:c2");
      expect(empty.allowed).toBe(false);
      expect(empty.retryAfterMs).toBeGreaterThan(HOUR - 60_000);
      expect(empty.retryAfterMs).toBeLessThanOrEqual(HOUR);
      await rs.refund("log:c2", 13);
      expect((await rs.tryAcquire("log:c2", { cost: 10 })).allowed).toBe(true);
    } finally {
      await rs.close();
    }
  });

  it("puts an adaptive key into debt in its bucket and its window, until a refund repays it", async () => {
    const rs = instance(backend);
    try {
      // 13 units of a cap of 10 on an empty key: the bucket owes 3 (one unit a year) and the window is over.
      await rs.charge("adaptive:c1", 13);
      const denied = await rs.tryAcquire("adaptive:c1");
      expect(denied.allowed).toBe(false);
      expect(denied.remaining).toBe(0);
      expect(denied.retryAfterMs).toBeGreaterThan(4 * 365 * 24 * HOUR - 60_000);
      await rs.limiter("adaptive:c1").charge(1);
      expect((await rs.tryAcquire("adaptive:c1")).allowed).toBe(false);
      await rs.refund("adaptive:c1", 14);
      expect((await rs.peek("adaptive:c1")).remaining).toBe(10);
      expect((await rs.tryAcquire("adaptive:c1", { cost: 10 })).allowed).toBe(true);
      // One unit every 6 minutes: 3 owed, then one unit to refill (24 minutes), or the window's end if later.
      await rs.charge("adaptive-h:c1", 13);
      const hourly = await rs.tryAcquire("adaptive-h:c1");
      expect(hourly.allowed).toBe(false);
      const toWindowEnd = HOUR - (Date.now() % HOUR);
      expect(hourly.retryAfterMs).toBeGreaterThan(Math.max(24 * 60_000, toWindowEnd) - 60_000);
      expect(hourly.retryAfterMs).toBeLessThanOrEqual(Math.max(24 * 60_000, toWindowEnd) + 60_000);
      // A charge after admitted calls counts with them in the window.
      expect((await rs.tryAcquire("adaptive:c2", { cost: 6 })).allowed).toBe(true);
      await rs.charge("adaptive:c2", 4);
      expect((await rs.tryAcquire("adaptive:c2")).allowed).toBe(false);
      await rs.refund("adaptive:c2", 1);
      expect((await rs.tryAcquire("adaptive:c2")).allowed).toBe(true);
    } finally {
      await rs.close();
    }
  });

  it("run's actualCost above the estimate charges the log and adaptive too", async () => {
    const rs = instance(backend);
    try {
      const errors: Error[] = [];
      rs.on("storeError", (event) => errors.push(event.error));
      for (const key of ["log:c3", "adaptive:c3"]) {
        expect(await rs.run(key, () => 12, { cost: 2, actualCost: (n) => n }), key).toBe(12);
        expect((await rs.tryAcquire(key)).allowed, key).toBe(false);
      }
      expect(errors).toEqual([]);
    } finally {
      await rs.close();
    }
  });

  it("refuses units that are not a positive finite number, charging nothing", async () => {
    const rs = instance(backend);
    try {
      for (const units of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "3" as unknown as number]) {
        await expect(rs.charge("win:c5", units)).rejects.toThrow(InvalidArgumentError);
        await expect(rs.limiter("win:c5").charge(units)).rejects.toThrow(/charge units must be a positive/);
        await expect(rs.charge(["tb:c5", "log:c5"], units)).rejects.toThrow(InvalidArgumentError);
      }
      expect((await rs.peek("tb:c5")).remaining).toBe(10);
      expect((await rs.peek("win:c5")).remaining).toBe(10);
      expect((await rs.peek("log:c5")).remaining).toBe(10);
      await expect(rs.charge("nope:1", 1)).rejects.toThrow(UnknownLimiterError);
    } finally {
      await rs.close();
    }
  });
});
