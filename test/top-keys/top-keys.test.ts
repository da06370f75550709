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

describe("TopKeys windows", () => {
  it("merges the minutes of the window and forgets older ones", () => {
    const clock = new FakeClock();
    const top = new TopKeys({ minutes: 3, now: clock.now });
    top.record("api", "a", false);
    top.record("api", "a", false);
    clock.advance(MINUTE);
    top.record("api", "b", false);
    top.record("api", "a", false);
    expect(top.top("api")).toEqual([
      { key: "a", count: 3, error: 0 },
      { key: "b", count: 1, error: 0 },
    ]);
    // The last minute alone.
    expect(top.top("api", 10, 1)).toEqual([
      { key: "a", count: 1, error: 0 },
      { key: "b", count: 1, error: 0 },
    ]);
    expect(top.top("api", 1)).toEqual([{ key: "a", count: 3, error: 0 }]);
    clock.advance(2 * MINUTE);
    // The first minute left the 3-minute window.
    expect(top.top("api")).toEqual([
      { key: "a", count: 1, error: 0 },
      { key: "b", count: 1, error: 0 },
    ]);
    clock.advance(MINUTE);
    expect(top.top("api")).toEqual([]);
    // A slot reused after a full turn of the ring starts empty.
    top.record("api", "c", false);
    expect(top.top("api")).toEqual([{ key: "c", count: 1, error: 0 }]);
  });

  it("bounds a merged count: never under, over by at most N / counters", () => {
    const clock = new FakeClock();
    const counters = 4;
    const top = new TopKeys({ counters, minutes: 2, now: clock.now });
    const exact = new Map<string, number>();
    const add = (key: string) => {
      top.record("l", key, false);
      exact.set(key, (exact.get(key) ?? 0) + 1);
    };
    // Minute 1: "hot" and a crowd of one-offs; minute 2: "hot" absent, "warm" repeated, another crowd.
    for (let i = 0; i < 30; i++) add("hot");
    for (let i = 0; i < 20; i++) add(`once:${i}`);
    clock.advance(MINUTE);
    for (let i = 0; i < 25; i++) add("warm");
    for (let i = 0; i < 20; i++) add(`again:${i}`);
    const n = 95;
    const listed = top.top("l", 100);
    for (const { key, count, error } of listed) {
      const truth = exact.get(key)!;
      expect(truth).toBeLessThanOrEqual(count);
      expect(count - error).toBeLessThanOrEqual(truth);
      expect(error).toBeLessThanOrEqual(n / counters);
    }
    expect(listed.slice(0, 2).map((k) => k.key)).toEqual(["hot", "warm"]);
    // "hot" was not held in minute 2 (not seen): its count adds that minute's floor, its error says so.
    const hot = listed.find((k) => k.key === "hot")!;
    expect(hot.count - hot.error).toBe(30);
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
    expect(() => new TopKeys({ minutes: 5 }).top("x", 10, 6)).toThrow(/minutes must be/);
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
