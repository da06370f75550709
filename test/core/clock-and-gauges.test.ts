/**
 * The instance clock (`RateSyncOptions.clock`), the `waiting` and `activeLeases` gauges, and the `wait` and
 * `leaseReleased` events, on the memory store.
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import { RateSync } from "../../src/core/rate-sync.ts";
import type { LeaseReleasedEvent, WaitEvent } from "../../src/core/types.ts";
import { FakeClock } from "../helpers/clock.ts";

afterEach(() => {
  vi.useRealTimers();
});

describe("clock option", () => {
  it("drives the memory store: a manual clock moves the window, nothing else does", async () => {
    const clock = new FakeClock();
    const rs = RateSync.fromConfig(
      { limiters: { api: { algorithm: "fixed_window", limit: 1, window: "1m" } } },
      { clock },
    );
    expect((await rs.tryAcquire("api")).allowed).toBe(true);
    const denied = await rs.tryAcquire("api");
    // FAKE_EPOCH_MS starts a window: exactly one minute to go.
    expect(denied.retryAfterMs).toBe(60_000);
    clock.advance(59_999);
    expect((await rs.tryAcquire("api")).retryAfterMs).toBe(1);
    clock.advance(1);
    expect((await rs.tryAcquire("api")).allowed).toBe(true);
    await rs.close();
  });

  it("by default follows vitest's fake timers, acquire() waits included", async () => {
    vi.useFakeTimers({ now: new Date("2030-01-01T00:00:00Z") });
    const rs = RateSync.fromConfig({
      limiters: { api: { algorithm: "fixed_window", limit: 1, window: "1m" } },
    });
    await rs.acquire("api");
    expect((await rs.tryAcquire("api")).retryAfterMs).toBe(60_000);
    const waiting = rs.acquire("api", { timeout: "2m" });
    await vi.advanceTimersByTimeAsync(60_100);
    const lease = await waiting;
    expect(lease.waitedMs).toBeGreaterThanOrEqual(60_000);
    expect(lease.waitedMs).toBeLessThan(60_100);
    await rs.close();
  });
});

describe("waiting and lease gauges and events", () => {
  it("counts a waiting acquire() until it ends, and reports how it ended", async () => {
    vi.useFakeTimers();
    const rs = RateSync.fromConfig({ limiters: { api: { rate: "1/s", burst: 1 } } });
    const waits: WaitEvent[] = [];
    rs.on("wait", (event) => {
      waits.push(event);
    });
    await rs.acquire("api");
    expect(waits).toEqual([]);
    const pending = rs.acquire("api", { timeout: "5s" });
    await vi.advanceTimersByTimeAsync(100);
    expect(rs.metrics().limiters.api?.waiting).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    await pending;
    expect(rs.metrics().limiters.api?.waiting).toBe(0);
    expect(waits).toEqual([{ limiter: "api", key: "api", waitedMs: 1000, result: "acquired" }]);

    const controller = new AbortController();
    const canceled = rs.acquire("api", { timeout: "5s", signal: controller.signal }).catch((e: Error) => e);
    await vi.advanceTimersByTimeAsync(10);
    controller.abort(new Error("gone"));
    expect(((await canceled) as Error).message).toBe("gone");
    expect(waits.at(-1)?.result).toBe("canceled");
    expect(rs.metrics().limiters.api?.waiting).toBe(0);
    await rs.close();
  });

  it("counts held concurrency slots and reports how long each was held", async () => {
    vi.useFakeTimers();
    const rs = RateSync.fromConfig({ limiters: { "up:<id>": { max_concurrent: 2 } } });
    const released: LeaseReleasedEvent[] = [];
    rs.on("leaseReleased", (event) => {
      released.push(event);
    });
    const a = await rs.acquire("up:1");
    const b = (await rs.tryAcquire("up:2")).lease!;
    expect(rs.metrics().limiters["up:<id>"]?.activeLeases).toBe(2);
    vi.advanceTimersByTime(250);
    await a.release();
    await a.release();
    expect(rs.metrics().limiters["up:<id>"]?.activeLeases).toBe(1);
    expect(released).toEqual([{ limiter: "up:<id>", key: "up:1", heldMs: 250 }]);
    await b.release();
    expect(rs.metrics().limiters["up:<id>"]?.activeLeases).toBe(0);
    await rs.close();
  });
});
