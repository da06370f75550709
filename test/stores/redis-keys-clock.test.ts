/**
 * Key isolation (hostile keys, limiter ids) and clock independence (app clocks skewed by minutes agree).
 */

import fc from "fast-check";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import type { RateParams } from "../../src/algorithms/types.ts";
import { leaseKey, stateKey } from "../../src/stores/redis/keys.ts";
import type { StoreOp } from "../../src/stores/store.ts";
import { requireRedis } from "../helpers/stores.ts";
import { redisFixture } from "./redis/setup.ts";

const redis = await requireRedis();

const HOSTILE_KEYS = [
  "",
  "a",
  "a:b",
  "{a}",
  "}{",
  "{",
  "}",
  "a}:s",
  "1:a:b",
  "x'; DROP TABLE t; --",
  "redis.call('FLUSHALL')",
  "]]..redis.call('DEL', KEYS[1])..[[",
  "%s%d\\0\n\r\t",
  "\u0000",
  "日本語🔑",
  "\uD800",
  "\uDFFF",
  " ".repeat(5),
  "k".repeat(1024),
];

describe("redis key naming", () => {
  it("is injective over (limiterId, key) pairs, whatever they contain", () => {
    fc.assert(
      fc.property(
        fc.tuple(
          fc.oneof(fc.string(), fc.constantFrom(...HOSTILE_KEYS)),
          fc.oneof(fc.string(), fc.constantFrom(...HOSTILE_KEYS)),
        ),
        fc.tuple(
          fc.oneof(fc.string(), fc.constantFrom(...HOSTILE_KEYS)),
          fc.oneof(fc.string(), fc.constantFrom(...HOSTILE_KEYS)),
        ),
        ([id1, key1], [id2, key2]) => {
          if (id1 === id2 && key1 === key2) return;
          const encode = (s: string) => Buffer.from(s, "utf8").toString("hex");
          expect(encode(stateKey("p", id1, key1))).not.toBe(encode(stateKey("p", id2, key2)));
          expect(encode(leaseKey("p", id1, key1))).not.toBe(encode(stateKey("p", id2, key2)));
        },
      ),
      { numRuns: 2000 },
    );
    // Limiter id and key boundaries cannot be shifted.
    expect(stateKey("p", "a:b", "c")).not.toBe(stateKey("p", "a", "b:c"));
  });
});

describe.skipIf(!redis.available)("redis store: keys and clocks", () => {
  const fixture = redisFixture(redis.url);
  afterAll(() => fixture.close());
  afterEach(() => {
    vi.useRealTimers();
  });

  it("hostile keys never share state, under one limiter or two", async () => {
    const params: RateParams = { kind: "fixed_window", limit: 1_000, windowMs: 3_600_000 };
    const ids = ["api", "api:x", "{api}", "1:api"];
    // Every (limiter, key) pair gets a distinct number of calls; each must then see exactly its own count.
    let n = 0;
    const expected = new Map<string, number>();
    for (const limiterId of ids) {
      for (const key of HOSTILE_KEYS) {
        n = (n % 7) + 1;
        const op: StoreOp = { limiterId, key, params, cost: n };
        expect((await fixture.store.decide([op], 0)).allowed).toBe(true);
        expected.set(JSON.stringify([limiterId, key]), n);
      }
    }
    for (const limiterId of ids) {
      for (const key of HOSTILE_KEYS) {
        const peek = await fixture.store.peek({ limiterId, key, params, cost: 1 });
        expect(1_000 - peek.remaining).toBe(expected.get(JSON.stringify([limiterId, key])));
      }
    }
    // Reset of one pair leaves its neighbours alone.
    await fixture.store.reset("api", "{a}");
    expect((await fixture.store.peek({ limiterId: "api", key: "{a}", params, cost: 1 })).remaining).toBe(
      1_000,
    );
    expect(
      (await fixture.store.peek({ limiterId: "api", key: "}{", params, cost: 1 })).remaining,
    ).toBeLessThan(1_000);
  });

  it("app clocks minutes apart make the same decisions (the store's clock decides)", async () => {
    const params: RateParams = { kind: "fixed_window", limit: 3, windowMs: 60_000 };
    const bucket: RateParams = { kind: "token_bucket", intervalMs: 60_000, burst: 2 };
    const fw: StoreOp = { limiterId: "skew", key: "fw", params, cost: 1 };
    const tb: StoreOp = { limiterId: "skew", key: "tb", params: bucket, cost: 1 };
    const results: { allowed: boolean; remaining: number }[] = [];
    const shifts = [0, 7 * 60_000, 0, -9 * 60_000, 0];
    for (const shift of shifts) {
      vi.useFakeTimers({ now: Date.now() + shift, toFake: ["Date", "performance"], shouldAdvanceTime: true });
      const a = (await fixture.store.decide([fw], 0)).results[0];
      const b = (await fixture.store.decide([tb], 0)).results[0];
      vi.useRealTimers();
      if (a === undefined || b === undefined) throw new Error("no result");
      results.push(
        { allowed: a.allowed, remaining: a.remaining },
        { allowed: b.allowed, remaining: b.remaining },
      );
      // Whatever the app clock says, waits are measured on the store's clock: never minutes off.
      expect(a.retryAfterMs).toBeLessThanOrEqual(60_000);
      expect(b.retryAfterMs).toBeLessThanOrEqual(60_000);
    }
    const fwSeen = results.filter((_, i) => i % 2 === 0);
    const tbSeen = results.filter((_, i) => i % 2 === 1);
    // Calls from "different clocks" share one count exactly (barring a window boundary in the fixed window).
    const fwAllowed = fwSeen.filter((r) => r.allowed).length;
    expect(fwAllowed === 3 || fwAllowed === 4).toBe(true);
    expect(tbSeen.map((r) => r.allowed)).toEqual([true, true, false, false, false]);
    expect(tbSeen.map((r) => r.remaining)).toEqual([1, 0, 0, 0, 0]);
  });
});
