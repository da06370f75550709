/**
 * @module
 * Waiting: many callers that each wait for their turn, on the memory store. rate-sync's `acquire` against
 * rate-limiter-flexible's RateLimiterQueue over RateLimiterMemory, same fixed window. The figure is the share
 * of the limit actually used: grants per second ÷ the limit per second. 100% means no window goes unused
 * because waiters woke late; above 100% would break the limit.
 */

import { RateLimiterMemory, RateLimiterQueue } from "rate-limiter-flexible";
import { RateSync } from "../../src/core/rate-sync.ts";
import { type BenchContext, interleave, type Row } from "../lib/compare.ts";

/** Units per window. */
const LIMIT = 100;
/** Window length, in ms. */
const WINDOW_MS = 100;
/** Callers waiting at once. */
const WAITERS = 64;

/**
 * Runs `WAITERS` loops of `take()` for `durationMs` and returns grants per second as a percentage of the limit.
 * Grants are counted only inside the measured span (a grant that resolves after it does not count).
 */
async function shareOfLimit(take: () => Promise<unknown>, durationMs: number): Promise<number> {
  let granted = 0;
  let stop = false;
  const started = performance.now();
  const deadline = started + durationMs;
  const loop = async (): Promise<void> => {
    while (!stop) {
      await take();
      if (performance.now() > deadline) {
        stop = true;
        return;
      }
      granted++;
    }
  };
  await Promise.all(Array.from({ length: WAITERS }, loop));
  const perSecond = (granted * 1000) / durationMs;
  return (100 * perSecond) / ((LIMIT * 1000) / WINDOW_MS);
}

export async function acquireScenarios(ctx: BenchContext): Promise<Row[]> {
  // Long enough for many windows, so the partial windows at both ends matter little.
  const durationMs = Math.max(2_000, ctx.durationMs * 2);
  const rs = RateSync.fromConfig({
    stores: { mem: { engine: "memory" } },
    limiters: { paced: { algorithm: "fixed_window", limit: LIMIT, window: `${WINDOW_MS}ms`, store: "mem" } },
  });
  let queueKey = 0;
  try {
    ctx.log("acquire: waiting callers");
    const values = await interleave(ctx.runs, {
      "rate-sync": async () => {
        await rs.reset("paced");
        return shareOfLimit(() => rs.acquire("paced"), durationMs);
      },
      "rate-limiter-flexible": async () => {
        // A fresh queue per run: a queue that outlived its run would still hold waiters.
        const limiter = new RateLimiterMemory({ points: LIMIT, duration: WINDOW_MS / 1000 });
        const queue = new RateLimiterQueue(limiter, { maxQueueSize: 10 * WAITERS });
        const key = `q${queueKey++}`;
        return shareOfLimit(() => queue.removeTokens(1, key), durationMs);
      },
    });
    return [
      {
        section: "acquire",
        scenario: `acquire, ${WAITERS} waiters, ${LIMIT} per ${WINDOW_MS}ms`,
        metric: "% of ideal",
        values,
        note: "fixed window on memory; RateLimiterQueue over RateLimiterMemory",
      },
    ];
  } finally {
    await rs.close();
  }
}
