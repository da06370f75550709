/**
 * Testing your own code's rate limits with vitest's fake timers: time moves only when the test says, so a
 * window's reset, a retry hint and a waiting `acquire()` are exact and instant. Run it with `npx vitest run
 * examples/testing-with-fake-timers.test.ts` (it also runs in this repository's test suite).
 *
 * The memory store's clock follows `vi.useFakeTimers()` by itself; nothing is injected.
 */

import { RateSync } from "rate-sync";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

/** The code under test: sends a reset mail at most 3 times per hour per user. */
async function sendResetMail(rs: RateSync, user: string): Promise<"sent" | { retryInS: number }> {
  const decision = await rs.tryAcquire(`reset-mail:${user}`);
  if (!decision.allowed) return { retryInS: Math.ceil(decision.retryAfterMs / 1000) };
  return "sent";
}

describe("reset mails", () => {
  let rs: RateSync;
  beforeEach(() => {
    // A round start, so the hour-long fixed window begins exactly now.
    vi.useFakeTimers({ now: new Date("2030-01-01T00:00:00Z") });
    rs = RateSync.fromConfig({
      limiters: { "reset-mail:<user>": { algorithm: "fixed_window", limit: 3, window: "1h" } },
    });
  });
  afterEach(async () => {
    await rs.close();
    vi.useRealTimers();
  });

  it("sends three an hour, then says when to come back", async () => {
    for (let i = 0; i < 3; i++) expect(await sendResetMail(rs, "ada")).toBe("sent");
    vi.advanceTimersByTime(15 * 60_000); // a quarter of an hour later
    expect(await sendResetMail(rs, "ada")).toEqual({ retryInS: 45 * 60 });
    // Other users have their own limit.
    expect(await sendResetMail(rs, "bob")).toBe("sent");
  });

  it("sends again once the hour is over", async () => {
    for (let i = 0; i < 3; i++) await sendResetMail(rs, "ada");
    vi.advanceTimersByTime(60 * 60_000);
    expect(await sendResetMail(rs, "ada")).toBe("sent");
  });

  it("lets a waiting acquire() through when the window ends, without really waiting", async () => {
    for (let i = 0; i < 3; i++) await rs.acquire("reset-mail:ada");
    const waiting = rs.acquire("reset-mail:ada", { timeout: "2h" });
    // Just past the hour: the waiter wakes at the window's end (a few ms are the store's rounding).
    await vi.advanceTimersByTimeAsync(60 * 60_000 + 100);
    const lease = await waiting;
    expect(lease.waitedMs).toBeGreaterThanOrEqual(60 * 60_000);
    expect(lease.waitedMs).toBeLessThan(60 * 60_000 + 100);
  });
});
