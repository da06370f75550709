/**
 * `decision.settle(actualCost)` through the facade, on every store (memory, a real Redis, a real PostgreSQL and
 * a SQLite file): after an admitted call that named its `cost`, the difference to the actual cost is refunded
 * or charged on every limit and member; a decision settles once; decisions that consumed nothing in a store
 * (lists, degraded) carry no `settle`. Also `rateLimited`'s `actualCost` in both modes. Settles under contention
 * are tested beside refunds, in `refund.test.ts`.
 */

import { afterAll, afterEach, describe, expect, it } from "vitest";
import { InvalidArgumentError, RateLimitExceededError, RateSync, rateLimited } from "../../src/index.ts";
import { type Backend, facadeBackends } from "../helpers/facade-backends.ts";

const backends = await facadeBackends("settle");
afterAll(() => Promise.all(backends.map((b) => b.cleanup())));

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
        "slotted:<id>": { ...window(10), max_concurrent: 1, lease: "1h" },
        "shadow:<id>": { ...window(1), shadow: true },
      },
      lists: { allow: ["win:vip"] },
    },
    { quiet: true },
  );
}

describe.each(backends)("settle on the $name store", (backend) => {
  afterEach(() => backend.empty());

  it("refunds what the work did not use, and a decision settles once", async () => {
    const rs = instance(backend);
    try {
      const decision = await rs.tryAcquire("win:1", { cost: 8 });
      expect(decision.remaining).toBe(2);
      await decision.settle!(3);
      expect((await rs.peek("win:1")).remaining).toBe(7);
      await expect(decision.settle!(3)).rejects.toThrow(InvalidArgumentError);
      await expect(decision.settle!(3)).rejects.toThrow(/already settled/);
      expect((await rs.peek("win:1")).remaining).toBe(7);
      // Settled at the estimate: nothing moves.
      const exact = await rs.tryAcquire("win:1", { cost: 2 });
      await exact.settle!(2);
      expect((await rs.peek("win:1")).remaining).toBe(5);
    } finally {
      await rs.close();
    }
  });

  it("charges what the work used beyond the estimate: a bucket goes into debt and denies until repaid", async () => {
    const rs = instance(backend);
    try {
      const decision = await rs.tryAcquire("tb:1", { cost: 5 });
      await decision.settle!(13);
      const denied = await rs.tryAcquire("tb:1");
      expect(denied.allowed).toBe(false);
      // 3 units owed, then one to refill, at one unit an hour.
      expect(denied.retryAfterMs).toBeGreaterThan(3.9 * 3_600_000);
      await rs.refund("tb:1", 13);
      expect((await rs.tryAcquire("tb:1", { cost: 10 })).allowed).toBe(true);
    } finally {
      await rs.close();
    }
  });

  it("settles every limit of a limiter and every member of a composite, from acquire's lease too", async () => {
    const rs = instance(backend);
    try {
      const lease = await rs.acquire("multi:1", { cost: 5 });
      await lease.decision.settle!(2);
      expect((await rs.peek("multi:1")).limits!.map((l) => l.remaining)).toEqual([8, 4]);
      const composite = await rs.tryAcquire(["win:2", "tb:2"], { cost: 6 });
      await composite.settle!(1);
      expect((await rs.peek("win:2")).remaining).toBe(9);
      expect((await rs.peek("tb:2")).remaining).toBe(9);
      // A handle's decision, and a limiter with a concurrency slot: the slot stays until its release.
      const slotted = await rs.limiter("slotted:1").tryAcquire({ cost: 4 });
      await slotted.settle!(9);
      expect((await rs.peek("slotted:1")).remaining).toBe(1);
      expect((await rs.tryAcquire("slotted:1")).allowed).toBe(false);
      await slotted.lease!.release();
      expect((await rs.tryAcquire("slotted:1")).allowed).toBe(true);
    } finally {
      await rs.close();
    }
  });

  it("is on allowed decisions of calls that named a cost only, and refuses a bad actual cost", async () => {
    const rs = instance(backend);
    try {
      expect((await rs.tryAcquire("win:3")).settle).toBeUndefined();
      expect((await rs.acquire("win:3")).decision.settle).toBeUndefined();
      expect((await rs.tryAcquire("win:3", { cost: 20 })).settle).toBeUndefined();
      // Allowed by `[lists]`: nothing was consumed, nothing to settle.
      const listed = await rs.tryAcquire("win:vip", { cost: 5 });
      expect(listed.list).toBe("allow");
      expect(listed.settle).toBeUndefined();
      // Admitted only by shadow mode (its store denied it): degraded, nothing to settle.
      await rs.tryAcquire("shadow:1");
      const shadowed = await rs.tryAcquire("shadow:1", { cost: 1 });
      expect(shadowed.degraded).toBe("shadow");
      expect(shadowed.settle).toBeUndefined();
      // Nor does `run` give back anything after such an admission: the window keeps the call that counted.
      await rs.run("shadow:1", () => 0, { cost: 1, actualCost: (n) => n });
      expect((await rs.peek("shadow:1")).remaining).toBe(0);
      const decision = await rs.tryAcquire("win:3", { cost: 4 });
      for (const actual of [-1, Number.NaN, Number.POSITIVE_INFINITY, "2" as unknown as number]) {
        await expect(decision.settle!(actual)).rejects.toThrow(InvalidArgumentError);
      }
      // A refused actual cost does not use up the settle.
      await decision.settle!(1);
      expect((await rs.peek("win:3")).remaining).toBe(7);
    } finally {
      await rs.close();
    }
  });

  it("rateLimited's actualCost refunds and charges in both modes", async () => {
    const rs = instance(backend);
    try {
      const chat = (tokens: number) => async (_: { id: string }) => ({ tokens });
      const waiting = rateLimited("win:<id>", chat(2), {
        rateSync: rs,
        cost: 5,
        actualCost: (reply) => reply.tokens,
      });
      expect(await waiting({ id: "5" })).toEqual({ tokens: 2 });
      expect((await rs.peek("win:5")).remaining).toBe(8);
      const trying = rateLimited("win:<id>", chat(9), {
        rateSync: rs,
        mode: "try",
        cost: 3,
        actualCost: (reply) => reply.tokens,
      });
      expect(await trying({ id: "5" })).toEqual({ tokens: 9 });
      expect((await rs.peek("win:5")).remaining).toBe(0);
      await expect(trying({ id: "5" })).rejects.toThrow(RateLimitExceededError);
      // Without a cost, the estimate is 1.
      const plain = rateLimited("tb:<id>", chat(4), {
        rateSync: rs,
        mode: "try",
        actualCost: (r) => r.tokens,
      });
      await plain({ id: "5" });
      expect((await rs.peek("tb:5")).remaining).toBe(6);
    } finally {
      await rs.close();
    }
  });
});

describe.each(backends.filter((b) => b.name === "memory" || b.name === "sqlite"))(
  "settle of tryAcquireSync on the $name store",
  (backend) => {
    afterEach(() => backend.empty());

    it("tryAcquireSync's decision settles too", async () => {
      const rs = instance(backend);
      try {
        const decision = rs.tryAcquireSync("win:4", { cost: 6 });
        await decision.settle!(1);
        expect((await rs.peek("win:4")).remaining).toBe(9);
        const multi = rs.tryAcquireSync("multi:4", { cost: 3 });
        await multi.settle!(4);
        expect((await rs.peek("multi:4")).limits!.map((l) => l.remaining)).toEqual([6, 2]);
      } finally {
        await rs.close();
      }
    });
  },
);

describe("settle after a degraded admission", () => {
  it("an admission under on_store_error = allow while the store is down carries no settle", async () => {
    const rs = RateSync.fromConfig(
      {
        stores: {
          // Nothing listens on port 1: every call fails fast with a connection error.
          down: { engine: "redis", url: "redis://127.0.0.1:1", timeout: "200ms" },
        },
        limiters: { "x:<id>": { ...window(10), store: "down", on_store_error: "allow" } },
      },
      { quiet: true },
    );
    rs.on("storeError", () => {});
    try {
      const decision = await rs.tryAcquire("x:1", { cost: 3 });
      expect(decision.allowed).toBe(true);
      expect(decision.degraded).toBeDefined();
      expect(decision.settle).toBeUndefined();
      // `run` settles nothing then, but still checks what `actualCost` returned.
      expect(await rs.run("x:1", () => 7, { cost: 3, actualCost: (n) => n })).toBe(7);
      await expect(rs.run("x:1", () => 7, { cost: 3, actualCost: () => -1 })).rejects.toThrow(
        InvalidArgumentError,
      );
    } finally {
      await rs.close();
    }
  });
});
