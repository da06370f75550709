import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LeaseExpiredError, MemoryStore, RateLimitExceededError, RateSync } from "../../src/index.ts";

// Fake timers drive both the waits of acquire() and the memory store's clock (fake Date.now), so every
// expected wait below is exact.
beforeEach(() => {
  vi.useFakeTimers({
    toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date", "performance"],
  });
});
afterEach(() => {
  vi.useRealTimers();
});

function rsWith(limiters: Record<string, Record<string, unknown>>) {
  return RateSync.fromConfig(
    { limiters },
    { stores: { memory: new MemoryStore({ id: "memory", now: () => Date.now() }) } },
  );
}

/** Settles `promise` while advancing fake time in small steps; returns the fake ms it took. */
async function timed<T>(promise: Promise<T>, stepMs = 5, maxMs = 120_000): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  let done = false;
  let value!: T;
  let error: unknown;
  promise.then(
    (v) => {
      done = true;
      value = v;
    },
    (e: unknown) => {
      done = true;
      error = e;
    },
  );
  for (let t = 0; t <= maxMs && !done; t += stepMs) await vi.advanceTimersByTimeAsync(stepMs);
  if (!done) throw new Error("did not settle");
  if (error !== undefined) throw error;
  return { value, ms: performance.now() - start };
}

describe("acquire", () => {
  it("reserves a token bucket slot and waits exactly until it", async () => {
    const rs = rsWith({ api: { rate: "10/s", burst: 2 } });
    await rs.acquire("api");
    await rs.acquire("api");
    const third = await timed(rs.acquire("api"), 1);
    expect(third.ms).toBeGreaterThanOrEqual(99);
    expect(third.ms).toBeLessThanOrEqual(103);
    expect(third.value.waitedMs).toBeGreaterThanOrEqual(99);
    await rs.close();
  });

  it("rejects at once when the wait would pass the timeout", async () => {
    const rs = rsWith({ api: { rate: "1/s", burst: 1 } });
    await rs.acquire("api");
    const started = performance.now();
    const error = await rs.acquire("api", { timeout: "200ms" }).catch((e: unknown) => e);
    expect(performance.now() - started).toBe(0);
    expect(error).toBeInstanceOf(RateLimitExceededError);
    expect((error as RateLimitExceededError).retryAfterMs).toBeGreaterThan(900);
    expect((error as RateLimitExceededError).limiter).toBe("api");
    // Rejected calls consumed nothing: after 1 s one call fits again.
    await vi.advanceTimersByTimeAsync(1000);
    expect((await rs.tryAcquire("api")).allowed).toBe(true);
    expect(rs.metrics().limiters.api!.timeouts).toBe(1);
    await rs.close();
  });

  it("uses the limiter's timeout by default and 0 decides at once", async () => {
    const rs = rsWith({ win: { algorithm: "fixed_window", limit: 1, window: "10s", timeout: 0 } });
    await rs.acquire("win");
    await expect(rs.acquire("win")).rejects.toBeInstanceOf(RateLimitExceededError);
    await rs.close();
  });

  it("rejects a cost above capacity at once, never waiting forever", async () => {
    const rs = rsWith({ api: { rate: "1/s", burst: 3 } });
    const error = await rs.acquire("api", { cost: 4, timeout: null }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitExceededError);
    expect((error as RateLimitExceededError).retryAfterMs).toBe(Number.POSITIVE_INFINITY);
    await rs.close();
  });

  it("waits for a fixed window to roll over, retrying at the exact hint", async () => {
    const rs = rsWith({ win: { algorithm: "fixed_window", limit: 1, window: "1s" } });
    // Align to a window start so the expected wait is exact.
    await vi.advanceTimersByTimeAsync(1000 - (Date.now() % 1000));
    await rs.acquire("win");
    const second = await timed(rs.acquire("win", { timeout: "5s" }), 10);
    expect(second.ms).toBeGreaterThanOrEqual(1000);
    expect(second.ms).toBeLessThanOrEqual(1100);
    await rs.close();
  });

  it("serves waiters on one key first-in, first-out", async () => {
    const rs = rsWith({ win: { algorithm: "fixed_window", limit: 1, window: "1s" } });
    await rs.acquire("win");
    const order: number[] = [];
    const waits = [0, 1, 2, 3].map((i) => rs.acquire("win", { timeout: "10s" }).then(() => order.push(i)));
    await timed(Promise.all(waits), 10);
    expect(order).toEqual([0, 1, 2, 3]);
    await rs.close();
  });

  it("aborts a wait with the signal's reason and frees its reservation", async () => {
    const rs = rsWith({ api: { rate: "10/s", burst: 1 } });
    await rs.acquire("api");
    const controller = new AbortController();
    const pending = rs.acquire("api", { signal: controller.signal });
    await vi.advanceTimersByTimeAsync(10);
    const reason = new Error("client went away");
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    // The aborted call's slot was given back: the next one waits only until the bucket refills.
    const next = await timed(rs.acquire("api"), 1);
    expect(next.ms).toBeLessThanOrEqual(95);
    // A non-Error reason still rejects with an Error.
    const other = new AbortController();
    other.abort("bye");
    await expect(rs.acquire("api", { signal: other.signal })).rejects.toBeInstanceOf(Error);
    await rs.close();
  });

  it("holds concurrency slots until release, which is idempotent", async () => {
    const rs = rsWith({ upload: { max_concurrent: 2, lease: "1m" } });
    const a = await rs.acquire("upload");
    const b = await rs.acquire("upload");
    expect((await rs.tryAcquire("upload")).allowed).toBe(false);
    expect((await rs.peek("upload")).concurrency).toEqual({ held: 2, max: 2 });
    await a.release();
    await a.release();
    expect((await rs.peek("upload")).concurrency).toEqual({ held: 1, max: 2 });
    const c = await rs.tryAcquire("upload");
    expect(c.allowed).toBe(true);
    await c.lease!.release();
    await b.release();
    expect((await rs.peek("upload")).concurrency?.held).toBe(0);
    await rs.close();
  });

  it("wakes a waiter as soon as a slot is released in this process", async () => {
    const rs = rsWith({ upload: { max_concurrent: 1, lease: "1m" } });
    const held = await rs.acquire("upload");
    const waiting = rs.acquire("upload", { timeout: "10s" });
    setTimeout(() => void held.release(), 30);
    const { ms } = await timed(waiting, 1);
    expect(ms).toBeLessThan(40);
    await rs.close();
  });

  it("frees a slot whose holder never releases after the lease time; renew extends it", async () => {
    const rs = rsWith({ job: { max_concurrent: 1, lease: "1s" } });
    const lost = await rs.acquire("job");
    await vi.advanceTimersByTimeAsync(600);
    await lost.renew();
    await vi.advanceTimersByTimeAsync(600);
    expect((await rs.tryAcquire("job")).allowed).toBe(false);
    await vi.advanceTimersByTimeAsync(500);
    const next = await rs.tryAcquire("job");
    expect(next.allowed).toBe(true);
    await expect(lost.renew()).rejects.toBeInstanceOf(LeaseExpiredError);
    await next.lease!.release();
    await rs.close();
  });

  it("releases at the end of an `await using` scope and around run()", async () => {
    const rs = rsWith({ upload: { max_concurrent: 1 } });
    {
      await using slot = await rs.acquire("upload");
      expect(slot.decision.allowed).toBe(true);
      expect((await rs.tryAcquire("upload")).allowed).toBe(false);
    }
    expect((await rs.peek("upload")).concurrency?.held).toBe(0);
    const result = await rs.run("upload", async () => {
      expect((await rs.peek("upload")).concurrency?.held).toBe(1);
      return 42;
    });
    expect(result).toBe(42);
    await expect(
      rs.run("upload", () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect((await rs.peek("upload")).concurrency?.held).toBe(0);
    await rs.close();
  });

  it("takes a rate and a concurrency slot together", async () => {
    const rs = rsWith({ stripe: { rate: "10/s", burst: 5, max_concurrent: 1 } });
    const first = await rs.acquire("stripe");
    expect((await rs.tryAcquire("stripe")).allowed).toBe(false);
    // The denied call consumed no token: 4 remain once the slot is back.
    await first.release();
    const state = await rs.peek("stripe");
    expect(state.remaining).toBe(4);
    await rs.close();
  });
});
