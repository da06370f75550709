/**
 * The Space-Saving sketch: exact while the keys fit, bounded memory whatever the stream, and Metwally's
 * guarantees on a skewed stream of many keys, checked against exact counts.
 */

import { describe, expect, it } from "vitest";
import { SpaceSaving } from "../../src/top-keys/space-saving.ts";

/** A small deterministic PRNG (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("SpaceSaving", () => {
  it("counts exactly while the keys fit in its counters", () => {
    const sketch = new SpaceSaving(4);
    for (const key of ["a", "b", "a", "c", "a", "b", "d"]) sketch.add(key);
    expect(sketch.entries()).toEqual([
      { key: "a", count: 3, error: 0 },
      { key: "b", count: 2, error: 0 },
      { key: "c", count: 1, error: 0 },
      { key: "d", count: 1, error: 0 },
    ]);
    expect(sketch.floor).toBe(1);
    expect(sketch.total).toBe(7);
  });

  it("replaces the smallest counter, carrying its count as the error", () => {
    const sketch = new SpaceSaving(2);
    for (const key of ["a", "a", "a", "b", "c"]) sketch.add(key);
    // "c" took "b"'s counter (count 1): it may have been seen once before.
    expect(sketch.entries()).toEqual([
      { key: "a", count: 3, error: 0 },
      { key: "c", count: 2, error: 1 },
    ]);
  });

  it("holds at most its capacity whatever the number of keys", () => {
    const sketch = new SpaceSaving(16);
    for (let i = 0; i < 50_000; i++) sketch.add(`key:${i}`);
    expect(sketch.size).toBe(16);
    expect(sketch.total).toBe(50_000);
  });

  it("keeps Metwally's bounds on a skewed stream of many keys", () => {
    const capacity = 20;
    const sketch = new SpaceSaving(capacity);
    const exact = new Map<string, number>();
    const next = random(7);
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      // Zipf-like: key j with weight ~ 1/j over 5,000 keys.
      const key = `k${Math.floor(5000 ** next())}`;
      sketch.add(key);
      exact.set(key, (exact.get(key) ?? 0) + 1);
    }
    const bound = n / capacity;
    for (const { key, count, error } of sketch.entries()) {
      const truth = exact.get(key)!;
      expect(count - error).toBeLessThanOrEqual(truth);
      expect(truth).toBeLessThanOrEqual(count);
      expect(error).toBeLessThanOrEqual(bound);
    }
    // Every key seen more than N / capacity times is held.
    const heavy = [...exact].filter(([, c]) => c > bound).map(([k]) => k);
    expect(heavy.length).toBeGreaterThan(0);
    for (const key of heavy) expect(sketch.get(key)).toBeDefined();
  });

  it("adds weights and scales every count, error and the total by one factor", () => {
    const sketch = new SpaceSaving(2);
    sketch.add("a", 2.5);
    sketch.add("b", 1);
    sketch.add("c", 0.5); // replaces "b" (1): count 1.5, error 1
    sketch.scale(0.5);
    expect(sketch.entries()).toEqual([
      { key: "a", count: 1.25, error: 0 },
      { key: "c", count: 0.75, error: 0.5 },
    ]);
    expect(sketch.total).toBe(2);
  });

  it("refuses a capacity that is not a whole number of at least 1", () => {
    expect(() => new SpaceSaving(0)).toThrow(RangeError);
    expect(() => new SpaceSaving(1.5)).toThrow(RangeError);
  });
});
