/**
 * @module
 * "Did you mean …?" for misspelled names (algorithms, keys, engines): the closest candidate by edit distance.
 */

/**
 * Edit distance between two strings where an insertion, a deletion, a substitution or a swap of two adjacent
 * characters each cost 1 (optimal string alignment), so `"brust"` is one typo away from `"burst"`.
 */
export function editDistance(a: string, b: string): number {
  // rows[i][j]: distance between the first i characters of a and the first j of b.
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const same = a[i - 1] === b[j - 1];
      let best = Math.min(
        (rows[i - 1]?.[j] ?? 0) + 1,
        (row[j - 1] ?? 0) + 1,
        (rows[i - 1]?.[j - 1] ?? 0) + (same ? 0 : 1),
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      }
      row.push(best);
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? 0;
}

/**
 * The candidate closest to `input`, when it is close enough to be a plausible typo (at most a third of its
 * length, and at least one edit, away); otherwise undefined.
 *
 * @example
 * closestName("sliding_windw", ["token_bucket", "sliding_window"]); // "sliding_window"
 */
export function closestName(input: string, candidates: readonly string[]): string | undefined {
  const needle = input.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(needle, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const tolerance = Math.max(1, Math.floor(Math.max(needle.length, 3) / 3));
  return best !== undefined && bestDistance <= tolerance ? best : undefined;
}

/** `; did you mean "x"?` when a close candidate exists, else an empty string. */
export function didYouMean(input: string, candidates: readonly string[]): string {
  const name = closestName(input, candidates);
  return name === undefined ? "" : `; did you mean ${JSON.stringify(name)}?`;
}
