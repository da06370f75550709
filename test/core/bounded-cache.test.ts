import { describe, expect, it } from "vitest";
import { BoundedCache } from "../../src/limiters/bounded-cache.ts";

describe("BoundedCache", () => {
  it("holds a working set of exactly maxSize keys in full, however it is walked", () => {
    const cache = new BoundedCache<number, number>(1000);
    for (let round = 0; round < 5; round++) {
      for (let k = 0; k < 1000; k++) {
        if (cache.get(k) === undefined) cache.set(k, k);
      }
    }
    expect(cache.size).toBe(1000);
    // Only the first round missed: nothing was ever dropped.
    expect(cache.evicted).toBe(0);
    for (let k = 0; k < 1000; k++) expect(cache.get(k)).toBe(k);
  });

  it("never holds more than maxSize entries, and drops the least recently used first", () => {
    const cache = new BoundedCache<number, string>(100);
    for (let k = 0; k < 10_000; k++) {
      cache.set(k, String(k));
      expect(cache.size).toBeLessThanOrEqual(100);
      // Key 0 is used all along: it is never dropped.
      expect(cache.get(0)).toBe("0");
    }
    expect(cache.get(9_999)).toBe("9999");
    expect(cache.get(5_000)).toBeUndefined();
    expect(cache.evicted).toBe(10_000 - 100);
  });

  it("promotes an entry of the old generation when it is used, so it outlives unused ones", () => {
    const cache = new BoundedCache<string, number>(4);
    for (const key of ["a", "b", "c", "d"]) cache.set(key, 1);
    // Full: the next insertion turns a–d into the old generation and drops its oldest unused entry.
    cache.set("e", 1);
    expect(cache.get("a")).toBeUndefined();
    expect(cache.get("b")).toBe(1); // promoted
    cache.set("f", 1); // drops c (b moved to the young generation)
    expect(cache.get("c")).toBeUndefined();
    expect(cache.get("b")).toBe(1);
    expect(cache.size).toBe(4);
  });

  it("updates in place, deletes and clears", () => {
    const cache = new BoundedCache<string, number>(2);
    cache.set("a", 1);
    cache.set("a", 2);
    expect(cache.get("a")).toBe(2);
    expect(cache.size).toBe(1);
    cache.delete("a");
    expect(cache.get("a")).toBeUndefined();
    cache.set("b", 1);
    cache.set("c", 1);
    cache.set("d", 1);
    expect(cache.size).toBe(2);
    cache.clear();
    expect(cache.size).toBe(0);
    cache.set("e", 1);
    expect(cache.get("e")).toBe(1);
  });
});

describe("BoundedCache under a random mix of calls", () => {
  it("stays within its bound and agrees with a plain map on whatever it still holds", () => {
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const cache = new BoundedCache<number, number>(64);
    const truth = new Map<number, number>();
    for (let step = 0; step < 50_000; step++) {
      const key = random(200);
      const action = random(10);
      if (action < 5) {
        const value = cache.get(key);
        if (value !== undefined) expect(value).toBe(truth.get(key));
      } else if (action < 9) {
        cache.set(key, step);
        truth.set(key, step);
      } else {
        cache.delete(key);
        truth.delete(key);
      }
      expect(cache.size).toBeLessThanOrEqual(64);
    }
  });
});
