/**
 * @module
 * Work that can run in one piece or in slices. The loader's long loops (one pass per limiter table) are
 * written as generators that `yield` between small units of work: {@link runSync} runs one to the end at
 * once (loading at startup, config given in code), {@link runInSlices} runs it a few milliseconds at a time
 * and lets the event loop run in between (a reload of a large file while the process serves calls, #13).
 */

import { setImmediate as nextTurn } from "node:timers/promises";

/** A unit of work that yields between steps and returns `T`. */
export type Steps<T> = Generator<void, T, void>;

/** How many units (limiter tables, entries) a loop handles between two yields. */
export const STEP_SIZE = 128;

/** Runs `steps` to the end without letting anything else run. */
export function runSync<T>(steps: Steps<T>): T {
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

/** What {@link runInSlices} did: for tests and measurements. */
export interface SliceStats {
  /** Event-loop turns the work was spread over (1: it ran in one piece). */
  slices: number;
}

/**
 * Runs `steps` in slices of about `budgetMs` of work, each followed by a turn of the event loop
 * (`setImmediate`: timers and I/O run in between, so a slice is the longest the loop waits).
 */
export async function runInSlices<T>(steps: Steps<T>, budgetMs = 5, stats?: SliceStats): Promise<T> {
  for (;;) {
    const started = performance.now();
    if (stats) stats.slices++;
    do {
      const next = steps.next();
      if (next.done) return next.value;
    } while (performance.now() - started < budgetMs);
    await nextTurn();
  }
}
