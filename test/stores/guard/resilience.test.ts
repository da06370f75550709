/**
 * Unit tests of the guarded store's parts (time budget, circuit breaker, over-limit cache, store clock) and of
 * secret masking, on a manual clock.
 */

import { describe, expect, it } from "vitest";
import type { RateParams } from "../../../src/algorithms/types.ts";
import { maskSecrets } from "../../../src/config/mask.ts";
import { isStoreError } from "../../../src/errors.ts";
import { CircuitBreaker } from "../../../src/stores/guard/breaker.ts";
import { withTimeout } from "../../../src/stores/guard/deadline.ts";
import { OverLimitCache } from "../../../src/stores/guard/over-limit-cache.ts";
import { StoreClock } from "../../../src/stores/guard/store-clock.ts";
import type { OpResult } from "../../../src/stores/store.ts";

function manualClock(start = 1_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("withTimeout", () => {
  it("rejects with a StoreError past the budget and swallows the late rejection", async () => {
    const unhandled: unknown[] = [];
    const spy = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", spy);
    let rejectLate!: (e: Error) => void;
    const slow = new Promise<never>((_, reject) => {
      rejectLate = reject;
    });
    const error = await withTimeout(slow, 20, "s").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isStoreError(error)).toBe(true);
    rejectLate(new Error("late"));
    await new Promise((resolve) => setTimeout(resolve, 20));
    process.off("unhandledRejection", spy);
    expect(unhandled).toEqual([]);
  });

  it("hands a value that arrives after the budget to onLate, and only such a value", async () => {
    const late: number[] = [];
    let resolveLate!: (value: number) => void;
    const slow = new Promise<number>((resolve) => {
      resolveLate = resolve;
    });
    await expect(withTimeout(slow, 20, "s", "call", (v) => late.push(v))).rejects.toThrow("timed out");
    resolveLate(5);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(late).toEqual([5]);
    expect(await withTimeout(Promise.resolve(7), 50, "s", "call", (v) => late.push(v))).toBe(7);
    expect(late).toEqual([5]);
  });

  it("passes values and errors through when in time", async () => {
    expect(await withTimeout(Promise.resolve(7), 50, "s")).toBe(7);
    await expect(withTimeout(Promise.reject(new Error("x")), 50, "s")).rejects.toThrow("x");
  });

  it("times out exactly the calls still pending at their own deadline, whatever settles around them", async () => {
    // Calls share one timer per budget: those answered in time must pass, in any order, and each late one must
    // time out at its own deadline, not at an earlier or later call's.
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const started = performance.now();
    const outcomes: Promise<string>[] = [];
    for (let i = 0; i < 40; i++) {
      // Every fourth call never answers; the others answer out of order within the budget.
      const call =
        i % 4 === 0 ? new Promise<string>(() => {}) : sleep(5 + ((i * 7) % 30)).then(() => `ok ${i}`);
      outcomes.push(
        withTimeout(call, 120, "s").then(
          (value) => value,
          (error: unknown) =>
            `${isStoreError(error) ? "timeout" : "other"} ${i} ${performance.now() - started}`,
        ),
      );
      if (i === 20) await sleep(40);
    }
    // A second budget runs alongside without disturbing the first.
    const short = withTimeout(new Promise(() => {}), 30, "s").then(
      () => "ok",
      () => performance.now() - started,
    );
    const results = await Promise.all(outcomes);
    for (let i = 0; i < 40; i++) {
      const result = results[i]!;
      if (i % 4 !== 0) {
        expect(result).toBe(`ok ${i}`);
        continue;
      }
      const [kind, index, at] = result.split(" ");
      expect(kind).toBe("timeout");
      expect(Number(index)).toBe(i);
      // Calls 0–20 started at once, the rest 40 ms later: each timed out 120 ms after its own start.
      const expected = i <= 20 ? 120 : 160;
      expect(Number(at)).toBeGreaterThanOrEqual(expected - 2);
      expect(Number(at)).toBeLessThan(expected + 1000);
    }
    const shortAt = (await short) as number;
    expect(shortAt).toBeGreaterThanOrEqual(40 + 30 - 2);
    expect(shortAt).toBeLessThan(40 + 1000);
  });
});

describe("CircuitBreaker", () => {
  it("opens after N consecutive failures, fails fast, half-opens one probe, closes on success", async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker("s", { failureThreshold: 3, coolDownMs: 100, now: clock.now });
    const fail = () => Promise.reject(new Error("down"));
    for (let i = 0; i < 3; i++) await expect(breaker.run(fail)).rejects.toThrow("down");
    expect(breaker.state).toBe("open");
    let called = false;
    const error = await breaker
      .run(async () => {
        called = true;
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(called).toBe(false);
    expect(isStoreError(error)).toBe(true);
    clock.advance(100);
    expect(breaker.state).toBe("half-open");
    // Only one probe at a time.
    let release!: () => void;
    const probe = breaker.run(
      () =>
        new Promise<void>((resolve) => {
          release = resolve;
        }),
    );
    await expect(breaker.run(async () => 1)).rejects.toThrow(/open/);
    release();
    await probe;
    expect(breaker.state).toBe("closed");
  });

  it("a failed probe re-opens; failures spread over more than the window do not add up", async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker("s", {
      failureThreshold: 2,
      failureWindowMs: 50,
      coolDownMs: 10,
      now: clock.now,
    });
    const fail = () => Promise.reject(new Error("down"));
    await expect(breaker.run(fail)).rejects.toThrow();
    clock.advance(60);
    await expect(breaker.run(fail)).rejects.toThrow();
    expect(breaker.state).toBe("closed");
    await expect(breaker.run(fail)).rejects.toThrow();
    expect(breaker.state).toBe("open");
    clock.advance(10);
    await expect(breaker.run(fail)).rejects.toThrow("down");
    expect(breaker.state).toBe("open");
  });
});

describe("OverLimitCache", () => {
  const params: RateParams = { kind: "fixed_window", limit: 5, windowMs: 1000 };
  const op = { limiterId: "l", key: "k", params, cost: 2 };
  const denied: OpResult = {
    allowed: false,
    limit: 5,
    remaining: 1,
    resetAfterMs: 300,
    retryAfterMs: 300,
    waitMs: 0,
  };

  it("denies cost >= c until T, only then, and never for other params", () => {
    const clock = manualClock();
    const cache = new OverLimitCache({ now: clock.now });
    cache.remember(op, denied, clock.now());
    expect(cache.check({ ...op, cost: 1 }, 0)).toBeUndefined();
    const hit = cache.check({ ...op, cost: 3 }, 0);
    expect(hit?.fromCache).toBe(true);
    expect(hit?.retryAfterMs).toBe(300);
    clock.advance(100);
    expect(cache.check(op, 0)?.retryAfterMs).toBe(200);
    expect(cache.check(op, 250)).toBeUndefined(); // a caller willing to wait goes to the store
    expect(cache.check({ ...op, params: { ...params, limit: 10 } }, 0)).toBeUndefined();
    clock.advance(200);
    expect(cache.check(op, 0)).toBeUndefined();
  });

  it("keeps every (limiter, key) pair apart, asked in any order", () => {
    const clock = manualClock();
    const cache = new OverLimitCache({ now: clock.now });
    // Pairs whose plain concatenations would collide, asked alternately so a remembered name is never reused
    // for the wrong pair.
    const a = { ...op, limiterId: "a", key: "b:c" };
    const b = { ...op, limiterId: "a:b", key: "c" };
    cache.remember(a, denied, clock.now());
    for (let i = 0; i < 3; i++) {
      expect(cache.check(a, 0)?.fromCache).toBe(true);
      expect(cache.check(b, 0)).toBeUndefined();
      expect(cache.check({ ...a, key: "b:d" }, 0)).toBeUndefined();
    }
    cache.forget("a:b", "c");
    expect(cache.check(a, 0)?.fromCache).toBe(true);
    cache.forget("a", "b:c");
    expect(cache.check(a, 0)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("forgets on reset/refund/release, skips concurrency and infinite retries, stays bounded", () => {
    const clock = manualClock();
    const cache = new OverLimitCache({ now: clock.now, maxEntries: 3 });
    cache.remember(op, denied, clock.now());
    cache.forget("l", "k");
    expect(cache.check(op, 0)).toBeUndefined();
    cache.remember(op, { ...denied, retryAfterMs: Number.POSITIVE_INFINITY }, clock.now());
    cache.remember(
      { ...op, params: { kind: "concurrency", maxConcurrent: 1, leaseMs: 1000 } },
      denied,
      clock.now(),
    );
    expect(cache.size).toBe(0);
    for (let i = 0; i < 10; i++) cache.remember({ ...op, key: `k${i}` }, denied, clock.now());
    expect(cache.size).toBe(3);
    expect(cache.check({ ...op, key: "k9" }, 0)).toBeDefined();
    expect(cache.check({ ...op, key: "k0" }, 0)).toBeUndefined();
  });
});

describe("maskSecrets", () => {
  it("masks URL passwords", () => {
    expect(maskSecrets("redis://u:p%40ss@h:1/0 and postgres://x:y@z/db")).toBe(
      "redis://u:****@h:1/0 and postgres://x:****@z/db",
    );
  });
});

describe("StoreClock", () => {
  it("has no deadline before a reply, then a store-clock deadline never later than the true one", () => {
    const clock = manualClock(0);
    const store = new StoreClock(clock.now);
    expect(store.deadline(1_000)).toBeUndefined();
    // True offset: the store's clock reads 1e12 + our clock. Replies take 0-3 ms to come back.
    const TRUE_OFFSET = 1e12;
    for (const transit of [3, 1, 2]) {
      const decidedAt = clock.now();
      clock.advance(transit);
      store.observe(decidedAt + TRUE_OFFSET, clock.now());
    }
    // The best sample (1 ms of transit) wins: 1 ms early, never late.
    expect(store.deadline(5_000)).toBe(5_000 + TRUE_OFFSET - 1);
  });

  it("forgets samples older than two spans, so a store clock stepped back is followed", () => {
    const clock = manualClock(0);
    const store = new StoreClock(clock.now);
    store.observe(clock.now() + 1_000, clock.now());
    expect(store.deadline(0)).toBe(1_000);
    // The store's clock steps back by 600 ms; keep replying.
    for (let i = 0; i < 30; i++) {
      clock.advance(500);
      store.observe(clock.now() + 400, clock.now());
    }
    expect(store.deadline(0)).toBe(400);
  });
});
