/**
 * @module
 * "Did you mean …?" for misspelled names (algorithms, keys, engines): the closest candidate by edit distance.
 */

/** Levenshtein distance between two strings (insertions, deletions and substitutions each cost 1). */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
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
