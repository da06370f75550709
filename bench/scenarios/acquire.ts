/**
 * @module
 * Waiting: many callers that each wait for their turn, on the memory store. rate-sync's `acquire` against
 * rate-limiter-flexible's RateLimiterQueue over RateLimiterMemory, same fixed window. The figure is the share
 * of the limit actually used: grants ÷ what the limit allows in the measured span (the limit times the windows
 * the span touches, by each library's window alignment). 100% means no window went unused because waiters woke
 * late; above 100% would break the limit.
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

/** How many windows of a limiter intersect a span of epoch ms `[start, end)`. */
type WindowCount = (startMs: number, endMs: number) => number;

/** Our fixed windows are aligned to the epoch: a span usually touches a partial window at each end. */
const epochAligned: WindowCount = (start, end) =>
  Math.floor((end - 1) / WINDOW_MS) - Math.floor(start / WINDOW_MS) + 1;
/** rate-limiter-flexible's window starts at the first call: a span of D ms holds ceil(D / W) windows. */
const startAligned: WindowCount = (start, end) => Math.ceil((end - start) / WINDOW_MS);

const epochNow = (): number => performance.timeOrigin + performance.now();

/**
 * Runs `WAITERS` loops of `take()` for `durationMs` and returns the grants inside the span as a percentage of
 * what the limit allows in it (`LIMIT` per window the span touches, by the limiter's own window alignment).
 */
async function shareOfLimit(
  take: () => Promise<unknown>,
  durationMs: number,
  windows: WindowCount,
): Promise<number> {
  let granted = 0;
  let stop = false;
  const started = epochNow();
  const deadline = started + durationMs;
  const loop = async (): Promise<void> => {
    while (!stop) {
      await take();
      if (epochNow() >= deadline) {
        stop = true;
        return;
      }
      granted++;
    }
  };
  await Promise.all(Array.from({ length: WAITERS }, loop));
  return (100 * granted) / (LIMIT * windows(started, deadline));
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
        return shareOfLimit(() => rs.acquire("paced"), durationMs, epochAligned);
      },
      "rate-limiter-flexible": async () => {
        // A fresh queue per run: a queue that outlived its run would still hold waiters.
        const limiter = new RateLimiterMemory({ points: LIMIT, duration: WINDOW_MS / 1000 });
        const queue = new RateLimiterQueue(limiter, { maxQueueSize: 10 * WAITERS });
        const key = `q${queueKey++}`;
        return shareOfLimit(() => queue.removeTokens(1, key), durationMs, startAligned);
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
