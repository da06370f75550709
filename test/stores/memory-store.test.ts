import { afterEach, describe, expect, it, vi } from "vitest";
import type { RateParams } from "../../src/algorithms/types.ts";
import { StoreError } from "../../src/errors.ts";
import { MemoryStore } from "../../src/stores/memory/memory-store.ts";
import { describeStoreConformance, op } from "../conformance/store-conformance.ts";
import { FakeClock } from "../helpers/clock.ts";

describeStoreConformance("memory store", () => {
  const clock = new FakeClock();
  const store = new MemoryStore({ id: "mem", now: clock.now });
  return { store, clock, cleanup: () => store.close() };
});

describe("memory store on its own clock", () => {
  // The conformance suite's real-clock mode, run here so it is exercised even without Redis or PostgreSQL.
  describeStoreConformance("memory store (real clock)", () => {
    const store = new MemoryStore();
    return { store, cleanup: () => store.close() };
  });
});

const fixed: RateParams = { kind: "fixed_window", limit: 1, windowMs: 1000 };
const bucket: RateParams = { kind: "token_bucket", intervalMs: 100, burst: 1 };

describe("MemoryStore", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("keeps at most maxKeys entries, dropping the least recently written and counting drops", async () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ maxKeys: 3, now: clock.now });
    for (const key of ["a", "b", "c"]) await store.decide([op("l", key, fixed)], 0);
    // Writing `a` again makes `b` the least recently written.
    await store.refund([op("l", "a", fixed)]);
    await store.decide([op("l", "a", fixed)], 0);
    await store.decide([op("l", "d", fixed)], 0);
    expect(store.stats()).toEqual({ keys: 3, evictions: 1 });
    // `b` was forgotten (so it is admitted again); `a`, `c` and `d` were kept (denied).
    expect((await store.decide([op("l", "b", fixed)], 0)).allowed).toBe(true);
    expect(store.stats().evictions).toBe(2);
    for (const key of ["a", "d"]) expect((await store.decide([op("l", key, fixed)], 0)).allowed).toBe(false);
    expect(store.stats().keys).toBe(3);
  });

  it("in a large store, keeps a key written since eviction last passed it (second chance) and stays bounded", async () => {
    const clock = new FakeClock();
    const maxKeys = 5000;
    const limit: RateParams = { kind: "fixed_window", limit: 2, windowMs: 3_600_000 };
    const store = new MemoryStore({ maxKeys, now: clock.now });
    for (let i = 0; i < maxKeys; i++) store.decideNow([op("l", `k${i}`, limit)], 0);
    // k0 is the oldest key, but written again: the next eviction skips it and drops k1 instead.
    expect(store.decideNow([op("l", "k0", limit)], 0).allowed).toBe(true);
    store.decideNow([op("l", "new", limit)], 0);
    expect(store.stats()).toEqual({ keys: maxKeys, evictions: 1 });
    // k0 kept both calls (denied now); k1 was forgotten (a fresh window again).
    expect(store.decideNow([op("l", "k0", limit)], 0).allowed).toBe(false);
    expect(store.decideNow([op("l", "k1", limit)], 0).results[0]?.remaining).toBe(1);

    // Every key written again, then a flood of new keys: each eviction moves a bounded number of marked keys,
    // and the store never holds more than its bound.
    for (let i = 0; i < maxKeys; i++) store.decideNow([op("l", `k${i}`, limit)], 0);
    for (let i = 0; i < 3 * maxKeys; i++) {
      store.decideNow([op("l", `flood${i}`, limit)], 0);
      expect(store.stats().keys).toBeLessThanOrEqual(maxKeys);
    }
  });

  it("sweeps expired state lazily, a few entries per write", async () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ now: clock.now });
    for (let i = 0; i < 100; i++) await store.decide([op("l", `old-${i}`, bucket)], 0);
    expect(store.stats().keys).toBe(100);
    clock.advance(1000); // every bucket is full again: its state no longer constrains anything
    // Each write advances the sweep by two entries; 150 writes cover one full pass over old and new entries.
    for (let i = 0; i < 150; i++) await store.decide([op("l", `new-${i}`, bucket)], 0);
    // Writes alone removed the expired entries, without any read of them.
    expect(store.stats().keys).toBe(150);
    expect(store.stats().evictions).toBe(0);
  });

  it("treats an expired entry as absent even before the sweep reaches it", async () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ now: clock.now });
    await store.decide([op("l", "k", fixed)], 0);
    expect((await store.decide([op("l", "k", fixed)], 0)).allowed).toBe(false);
    clock.advance(1000);
    expect((await store.peek(op("l", "k", fixed))).remaining).toBe(1);
  });

  it("deletes state that no longer constrains instead of storing it", async () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ now: clock.now });
    await store.decide([op("l", "k", bucket)], 0);
    await store.refund([op("l", "k", bucket)]);
    expect(store.stats().keys).toBe(0);
  });

  it("starts no timers", async () => {
    vi.useFakeTimers();
    const store = new MemoryStore();
    const lease = op("l", "k", { kind: "concurrency", maxConcurrent: 2, leaseMs: 1000 }, 1, "a");
    await store.decide([op("l", "k", bucket), op("l", "k", fixed), lease], 0);
    await store.peek(lease);
    await store.renew("l", "k", "a", 1000);
    await store.release("l", "k", "a");
    await store.reset("l", "k");
    expect(vi.getTimerCount()).toBe(0);
  });

  it("rejects a concurrency op without a lease id, and every call after close", async () => {
    const store = new MemoryStore();
    await expect(
      store.decide([op("l", "k", { kind: "concurrency", maxConcurrent: 1, leaseMs: 1000 })], 0),
    ).rejects.toThrow(/leaseId/);
    await store.close();
    await store.close();
    await expect(store.decide([op("l", "k", fixed)], 0)).rejects.toBeInstanceOf(StoreError);
  });

  it("rejects a maxKeys that is not a positive integer", () => {
    expect(() => new MemoryStore({ maxKeys: 0 })).toThrow(/maxKeys/);
    expect(() => new MemoryStore({ maxKeys: 1.5 })).toThrow(/maxKeys/);
  });

  it("takes maxKeys up to 10,000,000 (max_keys' range), not more: a Map holds at most 2^24 entries", () => {
    expect(() => new MemoryStore({ maxKeys: 10_000_000 })).not.toThrow();
    for (const maxKeys of [10_000_001, 2 ** 24 + 1, 1e12]) {
      expect(() => new MemoryStore({ maxKeys })).toThrow(
        `maxKeys must be a whole number from 1 to 10000000, got ${maxKeys}`,
      );
    }
  });

  it("decides two members on the same state one after the other", async () => {
    const store = new MemoryStore({ now: new FakeClock().now });
    const twice = { kind: "fixed_window", limit: 2, windowMs: 1000 } as const;
    const batch = await store.decide([op("l", "k", twice), op("l", "k", twice)], 0);
    expect(batch.results.map((r) => r.remaining)).toEqual([1, 0]);
    expect((await store.decide([op("l", "k", twice)], 0)).allowed).toBe(false);
    const over = await store.decide([op("l", "j", twice), op("l", "j", twice), op("l", "j", twice)], 0);
    expect(over.allowed).toBe(false);
    expect((await store.peek(op("l", "j", twice))).remaining).toBe(2);
  });

  it("uses an epoch-aligned clock by default", async () => {
    const store = new MemoryStore();
    const { resetAfterMs } = (await store.decide([op("l", "k", fixed)], 0)).results[0] ?? {
      resetAfterMs: -1,
    };
    const expected = 1000 - (Date.now() % 1000);
    // Two clocks read a moment apart: allow for the moment (and a wrap at the window's edge).
    const gap = Math.abs(resetAfterMs - expected);
    expect(Math.min(gap, 1000 - gap)).toBeLessThan(50);
  });
});
