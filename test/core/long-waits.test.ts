/**
 * Waits longer than a Node timer can take (2^31 − 1 ms, about 24.8 days) end when they should (#13): a timer
 * armed with a longer delay fires after 1 ms, and one clamped to the maximum ends weeks early. `acquire()` can
 * sleep that long for a reservation (a slow bucket, a long or no timeout), so its sleeps are chained.
 *
 * Fake timers (only `setTimeout`/`clearTimeout`) stand in for weeks; the memory store keeps its own clock.
 */

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_TIMER_MS } from "../../src/config/bounds.ts";
import { RateSync } from "../../src/index.ts";
import { sleep } from "../../src/wait/sleep.ts";

const DAY = 86_400_000;

/** Whether `promise` has settled (after the pending jobs of this turn have run). */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await vi.advanceTimersByTimeAsync(0);
  return done;
}

describe("sleeps longer than a Node timer", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("a 30-day sleep is still asleep after 24.8 days and wakes at 30 days", async () => {
    const done = sleep(30 * DAY);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS + 1);
    expect(await settled(done)).toBe(false);
    await vi.advanceTimersByTimeAsync(30 * DAY - MAX_TIMER_MS - 2);
    expect(await settled(done)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await settled(done)).toBe(true);
  });

  it("a sleep of exactly the longest timer is one timer", async () => {
    const done = sleep(MAX_TIMER_MS);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS - 1);
    expect(await settled(done)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await settled(done)).toBe(true);
  });

  it("a long sleep is still cut short by its signal", async () => {
    const controller = new AbortController();
    const done = sleep(100 * DAY, controller.signal);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS + 1);
    controller.abort(new Error("stop"));
    await expect(done).rejects.toThrow("stop");
  });

  it("acquire() reserving a unit 3650 days ahead does not go ahead after 24.8 days", async () => {
    const rs = RateSync.fromToml('[limiters.slow]\nrate = "1/3650d"\ntimeout = "3650d"\n', { env: {} });
    try {
      expect((await rs.tryAcquire("slow")).allowed).toBe(true);
      const controller = new AbortController();
      const lease = rs.acquire("slow", { signal: controller.signal });
      await vi.advanceTimersByTimeAsync(MAX_TIMER_MS + 1);
      expect(await settled(lease)).toBe(false);
      await vi.advanceTimersByTimeAsync(100 * DAY);
      expect(await settled(lease)).toBe(false);
      // Cancelled: the reservation is given back.
      controller.abort(new Error("cancelled"));
      await expect(lease).rejects.toThrow("cancelled");
    } finally {
      await rs.close();
    }
  });
});
