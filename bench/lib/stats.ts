/**
 * @module
 * Summary statistics of repeated benchmark runs: every figure the report shows is a median of several runs,
 * shown with the smallest and largest run so noise is visible.
 */

/** The median, smallest and largest of a set of runs. */
export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Every run, in the order they ran. */
  readonly runs: readonly number[];
}

/** Median, min and max of `values` (NaN everywhere when empty). */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, runs: [] };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: [...values] };
}

/**
 * The `q` quantile (0..1) of latency samples, nearest-rank. Sorts `samples` in place (they are scratch data).
 */
export function quantile(samples: Float64Array, q: number): number {
  if (samples.length === 0) return Number.NaN;
  samples.sort();
  const rank = Math.min(samples.length - 1, Math.max(0, Math.ceil(q * samples.length) - 1));
  return samples[rank]!;
}
