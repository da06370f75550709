/**
 * @module
 * The block lengths of `block_escalation = { factor, max }`: `block`, then each `factor` times the previous
 * (rounded to whole ms), up to `max`, which is the last step (and repeats).
 */

import type { BlockGrowth } from "./schema.ts";

/**
 * The steps of a growing block from `blockMs`, stopping as soon as there are more than `limit` (so a tiny factor
 * costs nothing to refuse).
 *
 * @example
 * growingSteps(60_000, { factor: 10, maxMs: 86_400_000 }, 16); // [60000, 600000, 6000000, 60000000, 86400000]
 */
export function growingSteps(blockMs: number, growth: BlockGrowth, limit: number): number[] {
  const steps: number[] = [];
  let next = blockMs;
  while (next < growth.maxMs && steps.length <= limit) {
    steps.push(next);
    next = Math.round(next * growth.factor);
  }
  steps.push(growth.maxMs);
  return steps;
}
