/**
 * @module
 * In-process decisions: rate-sync's memory store against rate-limiter-flexible's RateLimiterMemory, same fixed
 * window, same keys, one call at a time (an in-process limiter has nothing to overlap).
 */

import { RateLimiterMemory } from "rate-limiter-flexible";
import { type BenchContext, interleave, type Row } from "../lib/compare.ts";
import { throughput } from "../lib/measure.ts";
import { ignore, OPEN_POINTS, rateSyncFor, spreadKeys, WINDOW_S } from "../lib/setups.ts";

/** Keys of the spread scenario. */
export const SPREAD_KEYS = 100_000;
/** Calls between two clock reads (the clock costs about as much as a memory decision). */
const CHECK_EVERY = 256;

export async function memoryScenarios(ctx: BenchContext): Promise<Row[]> {
  const timing = { durationMs: ctx.durationMs, warmupMs: ctx.warmupMs };
  const rs = rateSyncFor({ engine: "memory", max_keys: 2_000_000 });
  const open = new RateLimiterMemory({ points: OPEN_POINTS, duration: WINDOW_S });
  const closed = new RateLimiterMemory({ points: 1, duration: WINDOW_S });
  const keys = spreadKeys(SPREAD_KEYS);
  const note = `fixed window, ${WINDOW_S}s; RateLimiterMemory points/duration equal`;
  try {
    ctx.log("memory: hot key");
    const hot = await interleave(ctx.runs, {
      "rate-sync": () => throughput(() => rs.tryAcquire("hot"), 1, timing, CHECK_EVERY),
      "rate-limiter-flexible": () => throughput(() => open.consume("hot"), 1, timing, CHECK_EVERY),
    });
    ctx.log("memory: 100k keys");
    const spread = await interleave(ctx.runs, {
      "rate-sync": () => throughput((i) => rs.tryAcquire(keys[i % SPREAD_KEYS]!), 1, timing, CHECK_EVERY),
      "rate-limiter-flexible": () =>
        throughput((i) => open.consume(keys[i % SPREAD_KEYS]!), 1, timing, CHECK_EVERY),
    });
    ctx.log("memory: denied path");
    await rs.tryAcquire("denied");
    await closed.consume("denied").catch(ignore);
    // The allowed path is measured again in the same interleaving, so "denied ÷ allowed" compares neighbours.
    const denied = await interleave(ctx.runs, {
      "rate-sync": () => throughput(() => rs.tryAcquire("denied"), 1, timing, CHECK_EVERY),
      "rate-limiter-flexible": () =>
        throughput(() => closed.consume("denied").catch(ignore), 1, timing, CHECK_EVERY),
      "rate-sync, allowed": () => throughput(() => rs.tryAcquire("hot"), 1, timing, CHECK_EVERY),
    });
    return [
      { section: "memory", scenario: "tryAcquire, hot key", metric: "ops/s", values: hot, note },
      {
        section: "memory",
        scenario: `tryAcquire, ${SPREAD_KEYS / 1000}k keys`,
        metric: "ops/s",
        values: spread,
        note,
      },
      {
        section: "memory",
        scenario: "tryAcquire, denied",
        metric: "ops/s",
        values: denied,
        note: "limit 1 per window, already used; rate-limiter-flexible denies by rejecting",
      },
    ];
  } finally {
    await rs.close();
  }
}
