/**
 * Heavy hitters: minutes merged into a window (an injected clock), the merged error bound, the bound on
 * limiters tracked; and the hook in the decision path: denials recorded per limiter, allowed calls never,
 * an `acquire()` that gives up once, `hash_keys` as hashes, lists included.
 */

import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { isRateLimitExceededError, RateSync, UnknownLimiterError } from "../../src/index.ts";
import { TopKeys } from "../../src/top-keys/top-keys.ts";
import { FakeClock } from "../helpers/clock.ts";

const MINUTE = 60_000;

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

describe("TopKeys decayed window", () => {
  it("weighs a denial exp(-age / minutes) and forgets old ones", () => {
    const clock = new FakeClock();
    const top = new TopKeys({ minutes: 3, now: clock.now });
    top.record("api", "a", false);
    top.record("api", "a", false);
    // Same instant: whole counts.
    expect(top.top("api")).toEqual([{ key: "a", count: 2, error: 0 }]);
    clock.advance(3 * MINUTE);
    top.record("api", "b", false);
    top.record("api", "a", false);
    // One time constant later the first two weigh 1/e each.
    const decayed = Math.round((1 + 2 / Math.E) * 100) / 100;
    expect(top.top("api")).toEqual([
      { key: "a", count: decayed, error: 0 },
      { key: "b", count: 1, error: 0 },
    ]);
    expect(top.top("api", 1)).toEqual([{ key: "a", count: decayed, error: 0 }]);
    // Past about three time constants nothing is listed, and the limiter leaves the snapshot.
    clock.advance(15 * MINUTE);
    expect(top.top("api")).toEqual([]);
    expect(top.snapshot().limiters).toEqual({});
    top.record("api", "c", false);
    expect(top.top("api")).toEqual([{ key: "c", count: 1, error: 0 }]);
  });

  it("counts a flood of one key in one millisecond like any other records, between limiters and keys", () => {
    const clock = new FakeClock();
    const top = new TopKeys({ minutes: 1, counters: 2, now: clock.now });
    const start = clock.now();
    const weights = new Map<string, number>();
    const add = (limiter: string, key: string) => {
      top.record(limiter, key, false);
      const id = `${limiter}/${key}`;
      weights.set(id, (weights.get(id) ?? 0) + Math.exp((clock.now() - start) / MINUTE));
    };
    const next = random(3);
    for (let step = 0; step < 2_000; step++) {
      // Mostly the same key in the same millisecond, now and then another key, limiter or millisecond.
      const r = next();
      if (r < 0.05) clock.advance(1 + Math.floor(next() * 2_000));
      add(r < 0.9 ? "api" : "other", r < 0.8 ? "flood" : `k${Math.floor(next() * 2)}`);
    }
    // Two counters and at most three keys per limiter: "flood" is held exactly, at its decayed weight.
    const now = Math.exp(-(clock.now() - start) / MINUTE);
    const flood = top.top("api").find((entry) => entry.key === "flood")!;
    expect(flood.error).toBe(0);
    expect(flood.count).toBeCloseTo(weights.get("api/flood")! * now, 2);
    // Another limiter's records never land in this one's sketch.
    expect(top.top("other").map((entry) => entry.key)).not.toContain("flood");
  });

  it("keeps counts finite over days (the landmark moves), with the same answers", () => {
    const clock = new FakeClock();
    const top = new TopKeys({ minutes: 1, now: clock.now });
    for (let minute = 0; minute < 3 * 24 * 60; minute++) {
      top.record("l", "steady", false);
      clock.advance(MINUTE);
    }
    top.record("l", "steady", false);
    // A steady denial a minute, time constant 1 minute: 1 / (1 - 1/e) in the limit.
    const [only] = top.top("l");
    expect(only!.key).toBe("steady");
    expect(only!.count).toBeCloseTo(1 / (1 - 1 / Math.E), 2);
    expect(only!.error).toBe(0);
  });

  it("bounds every count against exact decayed counts on a skewed stream: never under, over by at most D / counters", () => {
    const clock = new FakeClock();
    const counters = 16;
    const minutes = 2;
    const tau = minutes * MINUTE;
    const top = new TopKeys({ counters, minutes, now: clock.now });
    const next = random(11);
    // Exact decayed counts by key, as the truth: every denial with its time.
    const denials: { key: string; at: number }[] = [];
    for (let i = 0; i < 20_000; i++) {
      clock.advance(Math.floor(next() * 60)); // about 10 minutes in all, 5 time constants
      // Zipf-like: key j with weight ~ 1/j over 2,000 keys.
      const key = `tenant:${Math.floor(2000 ** next())}`;
      top.record("l", key, false);
      denials.push({ key, at: clock.now() });
    }
    const now = clock.now();
    const exact = new Map<string, number>();
    let d = 0;
    for (const { key, at } of denials) {
      const weight = Math.exp(-(now - at) / tau);
      exact.set(key, (exact.get(key) ?? 0) + weight);
      d += weight;
    }
    const listed = top.top("l", counters);
    expect(listed.length).toBe(counters);
    const slack = 0.01; // counts and errors are rounded to hundredths
    for (const { key, count, error } of listed) {
      const truth = exact.get(key) ?? 0;
      expect(truth).toBeLessThanOrEqual(count + slack);
      expect(count - error).toBeLessThanOrEqual(truth + slack);
      expect(error).toBeLessThanOrEqual(d / counters + slack);
    }
    // Every key of more than D / counters is listed, and the heaviest key comes first.
    const heavy = [...exact].filter(([, c]) => c > d / counters).map(([k]) => k);
    expect(heavy.length).toBeGreaterThan(0);
    for (const key of heavy) expect(listed.map((k) => k.key)).toContain(key);
    const heaviest = [...exact].sort((a, b) => b[1] - a[1])[0]![0];
    expect(listed[0]!.key).toBe(heaviest);
  });

  it("stays bounded: counters per limiter and limiters per instance, whatever the keys", () => {
    const clock = new FakeClock();
    const top = new TopKeys({ counters: 8, maxLimiters: 4, now: clock.now });
    for (let i = 0; i < 50_000; i++) {
      top.record(`lim${i % 10}`, `key:${i}`, false);
      if (i % 1000 === 0) clock.advance(MINUTE);
    }
    expect(top.limiters()).toHaveLength(4);
    for (const id of top.limiters()) expect(top.top(id, 1000).length).toBeLessThanOrEqual(8);
  });

  it("tracks a bounded number of limiters, dropping the one denied least recently", () => {
    const clock = new FakeClock();
    const top = new TopKeys({ maxLimiters: 2, now: clock.now });
    top.record("a", "k", false);
    top.record("b", "k", false);
    clock.advance(MINUTE);
    top.record("a", "k", false); // "a" used again, so "b" is the oldest
    top.record("c", "k", false);
    expect(top.limiters().sort()).toEqual(["a", "c"]);
  });

  it("refuses bad options and windows", () => {
    expect(() => new TopKeys({ counters: 0 })).toThrow(/topKeys.counters/);
    expect(() => new TopKeys({ minutes: 1.5 })).toThrow(/topKeys.minutes/);
    expect(() => new TopKeys().top("x", -1)).toThrow(/n must be/);
  });
});

describe("the denial hook", () => {
  const toml = `
[limiters."api:<tenant>"]
algorithm = "fixed_window"
limit = 1
window = "1h"

[limiters."login:<user>"]
algorithm = "fixed_window"
limit = 1
window = "1h"
hash_keys = true

[limiters.dry]
algorithm = "fixed_window"
limit = 1
window = "1h"
shadow = true

[lists]
deny = ["api:blocked"]
`;

  it("records denials per limiter, and nothing for allowed calls", async () => {
    const clock = new FakeClock();
    const rs = RateSync.fromToml(toml, { topKeys: { now: clock.now } });
    for (const tenant of ["a", "b", "c"]) expect((await rs.tryAcquire(`api:${tenant}`)).allowed).toBe(true);
    for (let i = 0; i < 3; i++) await rs.tryAcquire("dry"); // shadow: never denied
    expect(rs.topKeys("api:<tenant>")).toEqual([]);
    expect(rs.topKeys("dry")).toEqual([]);

    for (let i = 0; i < 3; i++) await rs.tryAcquire("api:a");
    rs.tryAcquireSync("api:b");
    await rs.tryAcquire("api:blocked");
    await rs.tryAcquire("api:blocked");
    // A composite denial counts the member that denied.
    await rs.tryAcquire(["api:zz", "api:c"]);
    expect(rs.topKeys("api:<tenant>")).toEqual([
      { key: "api:a", count: 3, error: 0 },
      { key: "api:blocked", count: 2, error: 0 },
      { key: "api:b", count: 1, error: 0 },
      { key: "api:c", count: 1, error: 0 },
    ]);
    expect(rs.topKeys("login:<user>")).toEqual([]);
    await rs.close();
  });

  it("counts an acquire() that gives up once, not each of its tries", async () => {
    const rs = RateSync.fromToml("[limiters.slot]\nmax_concurrent = 1\n");
    const held = await rs.acquire("slot");
    // A concurrency wait tries again until its deadline (a release may come any moment), then gives up.
    const error = await rs.acquire("slot", { timeout: "60ms" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isRateLimitExceededError(error)).toBe(true);
    expect(rs.topKeys("slot")).toEqual([{ key: "slot", count: 1, error: 0 }]);
    expect(rs.metrics().limiters.slot?.denied).toBe(1);
    await held.release();
    await rs.close();
  });

  it("shows hashes, never raw keys, for a limiter with hash_keys", async () => {
    const rs = RateSync.fromToml(toml);
    await rs.tryAcquire("login:alice@example.com");
    await rs.tryAcquire("login:alice@example.com");
    const hash = createHash("sha256").update("login:alice@example.com").digest("hex");
    const top = rs.topKeys("login:<user>");
    expect(top).toHaveLength(1);
    expect(top[0]!.key).not.toContain("alice");
    expect(top[0]!.key).toContain(hash.slice(0, 16));
    const snapshot = rs.topKeysSnapshot();
    expect(snapshot.limiters["login:<user>"]).toMatchObject({ hashed: true });
    expect(JSON.stringify(snapshot)).not.toContain("alice");
    await rs.close();
  });

  it("answers UnknownLimiterError for an id that is no limiter, and nothing when turned off", async () => {
    const rs = RateSync.fromToml(toml, { topKeys: false });
    expect(() => rs.topKeys("nope")).toThrow(UnknownLimiterError);
    await rs.tryAcquire("api:a");
    await rs.tryAcquire("api:a");
    expect(rs.topKeys("api:<tenant>")).toEqual([]);
    expect(rs.topKeysSnapshot().limiters).toEqual({});
    await rs.close();
  });
});
