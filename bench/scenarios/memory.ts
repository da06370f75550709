/**
 * @module
 * In-process decisions: rate-sync's memory store against rate-limiter-flexible's RateLimiterMemory, same fixed
 * window, same keys, one call at a time (an in-process limiter has nothing to overlap). `tryAcquireSync` is called
 * in a plain loop (no promise, no await) beside rate-limiter-flexible's async `consume`.
 */

import { RateLimiterMemory } from "rate-limiter-flexible";
import { type BenchContext, interleave, type Row } from "../lib/compare.ts";
import { throughput, throughputSync } from "../lib/measure.ts";
import { ignore, OPEN_POINTS, rateSyncFor, spreadKeys, WINDOW_S } from "../lib/setups.ts";

/** Keys of the spread scenario. */
export const SPREAD_KEYS = 100_000;
/** Calls between two clock reads (the clock costs about as much as a memory decision). */
const CHECK_EVERY = 256;

/** The async rows of an interleaving that also measured `tryAcquireSync` (as `sync`). */
function asyncOf(values: Row["values"]): Row["values"] {
  const { sync: _, ...rest } = values;
  return rest;
}

/** The `tryAcquireSync` rows of an interleaving: its figure as rate-sync's, beside rate-limiter-flexible's. */
function syncOf(values: Row["values"]): Row["values"] {
  return { "rate-sync": values.sync!, "rate-limiter-flexible": values["rate-limiter-flexible"]! };
}

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
      sync: () => throughputSync(() => rs.tryAcquireSync("hot"), timing, CHECK_EVERY),
    });
    ctx.log("memory: 100k keys");
    const spread = await interleave(ctx.runs, {
      "rate-sync": () => throughput((i) => rs.tryAcquire(keys[i % SPREAD_KEYS]!), 1, timing, CHECK_EVERY),
      "rate-limiter-flexible": () =>
        throughput((i) => open.consume(keys[i % SPREAD_KEYS]!), 1, timing, CHECK_EVERY),
      sync: () => throughputSync((i) => rs.tryAcquireSync(keys[i % SPREAD_KEYS]!), timing, CHECK_EVERY),
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
    const syncNote = `${note}; tryAcquireSync in a plain loop, rate-limiter-flexible's consume awaited`;
    return [
      { section: "memory", scenario: "tryAcquire, hot key", metric: "ops/s", values: asyncOf(hot), note },
      {
        section: "memory",
        scenario: `tryAcquire, ${SPREAD_KEYS / 1000}k keys`,
        metric: "ops/s",
        values: asyncOf(spread),
        note,
      },
      {
        section: "memory",
        scenario: "tryAcquireSync, hot key",
        metric: "ops/s",
        values: syncOf(hot),
        note: syncNote,
      },
      {
        section: "memory",
        scenario: `tryAcquireSync, ${SPREAD_KEYS / 1000}k keys`,
        metric: "ops/s",
        values: syncOf(spread),
        note: syncNote,
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
