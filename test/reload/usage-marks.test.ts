/**
 * The marks behind the warning of a reload that removes a limiter in use: a limiter counts as recently used
 * when it took calls since the older of the last two marks (one to two intervals back).
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import { createCounters } from "../../src/core/metrics.ts";
import { USAGE_MARK_INTERVAL_MS, UsageMarks } from "../../src/reload/usage-marks.ts";

afterEach(() => {
  vi.useRealTimers();
});

describe("UsageMarks", () => {
  it("sees calls of the last one to two intervals, and forgets older ones", () => {
    vi.useFakeTimers();
    const used = { counters: createCounters() };
    const idle = { counters: createCounters() };
    const marks = new UsageMarks({ entries: () => [used, idle] });
    expect(marks.recentlyUsed(used)).toBe(false);
    used.counters.allowed++;
    expect(marks.recentlyUsed(used)).toBe(true);
    // One mark later the call is still within the window; two marks later it is not.
    vi.advanceTimersByTime(USAGE_MARK_INTERVAL_MS);
    expect(marks.recentlyUsed(used)).toBe(true);
    vi.advanceTimersByTime(USAGE_MARK_INTERVAL_MS);
    expect(marks.recentlyUsed(used)).toBe(false);
    // A denial is a call too.
    used.counters.denied++;
    expect(marks.recentlyUsed(used)).toBe(true);
    expect(marks.recentlyUsed(idle)).toBe(false);
    marks.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
