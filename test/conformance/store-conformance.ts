/**
 * @module
 * The store conformance suite: the same scenarios, run against every store (memory, Redis, PostgreSQL), so all
 * stores keep the promises of SPEC §2.5 and §7 identically.
 *
 * Usage, from a store's test file:
 * ```ts
 * describeStoreConformance("memory store", () => {
 *   const clock = new FakeClock();
 *   return { store: new MemoryStore({ now: clock.now }), clock, cleanup: async () => {} };
 * });
 * ```
 *
 * The factory runs before each scenario and `cleanup` after it. With a `clock` (a store whose clock can be
 * injected) time moves only by `clock.advance` and expected times are checked to the microsecond. Without one
 * (Redis and PostgreSQL use their server's clock), time passes by sleeping, windows are small, and times are
 * checked within {@link REAL_TIME_SLACK_MS}. Each scenario uses limiter ids of its own, so a factory may hand out
 * one shared store (with a per-file key prefix or table) — but `cleanup` must leave nothing behind.
 */

import { describe, expect, it } from "vitest";
import type { ConcurrencyParams, LimitParams, RateParams } from "../../src/algorithms/types.ts";
import type { OpResult, Store, StoreOp } from "../../src/stores/store.ts";

/** A clock the suite can move. */
export interface ConformanceClock {
  /** Moves the store's clock forward by `ms`. */
  advance(ms: number): void;
}

/** What a factory returns: a store to test, its clock when injectable, and how to clean up. */
export interface ConformanceFixture {
  readonly store: Store;
  /** The store's clock, when the test controls it; absent for stores on a real clock. */
  readonly clock?: ConformanceClock;
  /** Releases what the factory created (connections, keys, tables). Runs after every scenario. */
  cleanup(): Promise<void>;
}

/** Builds a fresh fixture for one scenario. */
export type ConformanceFactory = () => ConformanceFixture | Promise<ConformanceFixture>;

/**
 * How far a measured time may fall below the expected one on a real clock (time passes between the calls of a
 * scenario: round trips, event-loop turns, a busy CI machine). Times may never be above expectation by more than
 * {@link REAL_TIME_ABOVE_MS}.
 */
export const REAL_TIME_SLACK_MS = 150;
/** How far a measured time may exceed the expected one on a real clock (clock granularity, float rounding). */
export const REAL_TIME_ABOVE_MS = 5;
/** Extra sleep after a retry hint on a real clock, so the retry lands after (not at) the promised instant. */
const REAL_TIME_MARGIN_MS = 25;

/** Bucket interval: one unit every 100 ms. */
const T = 100;
/** Window length for window algorithms. */
const W = 1000;
/** Lease length for concurrency. */
const LEASE_MS = 1000;

let sequence = 0;
/** A limiter id no other scenario (or run) uses. */
function limiterId(name: string): string {
  sequence += 1;
  return `${name}-${sequence}-${Math.random().toString(36).slice(2, 8)}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One scenario's view of the fixture, with the helpers every scenario needs. */
class Harness {
  constructor(readonly fixture: ConformanceFixture) {}

  get store(): Store {
    return this.fixture.store;
  }

  get fake(): boolean {
    return this.fixture.clock !== undefined;
  }

  /** Lets `ms` pass on the store's clock. */
  async advance(ms: number): Promise<void> {
    if (this.fixture.clock !== undefined) this.fixture.clock.advance(ms);
    else await sleep(Math.ceil(ms));
  }

  /** Lets a retry hint pass: exactly on a fake clock (the promise holds at the instant), a bit more on a real one. */
  async advancePast(ms: number): Promise<void> {
    await this.advance(this.fake ? ms : ms + REAL_TIME_MARGIN_MS);
  }

  /** Checks a duration: exact on a fake clock, within slack on a real one. */
  expectMs(actual: number, expected: number): void {
    if (this.fake) {
      expect(actual).toBeCloseTo(expected, 6);
    } else {
      expect(actual).toBeGreaterThanOrEqual(expected - REAL_TIME_SLACK_MS);
      expect(actual).toBeLessThanOrEqual(expected + REAL_TIME_ABOVE_MS);
    }
  }

  async decide(op: StoreOp, maxWaitMs = 0): Promise<OpResult> {
    const batch = await this.store.decide([op], maxWaitMs);
    expect(batch.results).toHaveLength(1);
    const result = batch.results[0];
    if (result === undefined) throw new Error("no result");
    expect(batch.allowed).toBe(result.allowed);
    return result;
  }

  /** Decides `n` calls and returns whether each was allowed. */
  async burst(op: StoreOp, n: number): Promise<boolean[]> {
    const allowed: boolean[] = [];
    for (let i = 0; i < n; i++) allowed.push((await this.decide(op)).allowed);
    return allowed;
  }

  /**
   * Moves to the start of a fixed window of length `windowMs` (exactly, on a fake clock) or into its first half
   * (on a real one), so a scenario does not straddle a window boundary. Learns the phase from the store itself:
   * a fresh fixed window reports the time to the window's end.
   */
  async alignToWindow(windowMs: number): Promise<void> {
    const probe = op(limiterId("align"), "probe", { kind: "fixed_window", limit: 1, windowMs });
    const { resetAfterMs } = await this.decide(probe);
    if (this.fake) await this.advance(resetAfterMs);
    else if (resetAfterMs < windowMs / 2) await this.advance(resetAfterMs + REAL_TIME_MARGIN_MS);
  }
}

/** Builds a store op (the lease id only for concurrency). */
export function op(
  limiterIdValue: string,
  key: string,
  params: LimitParams,
  cost = 1,
  leaseId?: string,
): StoreOp {
  return leaseId === undefined
    ? { limiterId: limiterIdValue, key, params, cost }
    : { limiterId: limiterIdValue, key, params, cost, leaseId };
}

const tokenBucket = (burst: number): RateParams => ({ kind: "token_bucket", intervalMs: T, burst });
const leakyBucket = (burst: number): RateParams => ({ kind: "leaky_bucket", intervalMs: T, burst });
const window = (
  kind: "fixed_window" | "sliding_window" | "sliding_window_counter",
  limit: number,
): RateParams => ({
  kind,
  limit,
  windowMs: W,
});
const concurrency = (maxConcurrent: number): ConcurrencyParams => ({
  kind: "concurrency",
  maxConcurrent,
  leaseMs: LEASE_MS,
});

/** Every rate algorithm with a capacity-`n` constructor; leaky buckets admit bursts only by reservation. */
const RATE_ALGORITHMS = [
  { name: "token_bucket", make: tokenBucket, bursts: true },
  { name: "leaky_bucket", make: leakyBucket, bursts: false },
  { name: "fixed_window", make: (n: number) => window("fixed_window", n), bursts: true },
  { name: "sliding_window", make: (n: number) => window("sliding_window", n), bursts: true },
  { name: "sliding_window_counter", make: (n: number) => window("sliding_window_counter", n), bursts: true },
] as const;

/** A window no scenario outlives: state written under it is still there when the scenario looks. */
const LONG_WINDOW: RateParams = { kind: "fixed_window", limit: 1, windowMs: 3_600_000 };

/** Time after which any rate state of these scenarios is fully forgotten. */
const IDLE_MS = 2 * W + 50;

/**
 * Registers the conformance scenarios for one store.
 *
 * @param name Shown as the `describe` title.
 * @param factory Builds a fresh fixture before each scenario (see {@link ConformanceFixture}).
 */
export function describeStoreConformance(name: string, factory: ConformanceFactory): void {
  describe(`${name}: store conformance`, () => {
    /** Runs `body` with a fresh fixture and always cleans up. */
    const scenario = (title: string, body: (h: Harness) => Promise<void>): void => {
      it(title, async () => {
        const fixture = await factory();
        try {
          await body(new Harness(fixture));
        } finally {
          await fixture.cleanup();
        }
      });
    };

    describe.each(RATE_ALGORITHMS)("$name", ({ name: algorithm, make, bursts }) => {
      scenario("admits up to the capacity, then denies with a finite retry hint", async (h) => {
        await h.alignToWindow(W);
        const params = make(3);
        const o = op(limiterId(algorithm), "k", params);
        if (bursts) {
          const results: OpResult[] = [];
          for (let i = 0; i < 4; i++) results.push(await h.decide(o));
          expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
          expect(results.slice(0, 3).map((r) => r.remaining)).toEqual([2, 1, 0]);
          const denied = results[3] as OpResult;
          expect(denied.limit).toBe(3);
          expect(denied.remaining).toBe(0);
          expect(denied.waitMs).toBe(0);
          expect(denied.retryAfterMs).toBeGreaterThan(0);
          expect(Number.isFinite(denied.retryAfterMs)).toBe(true);
          if (algorithm === "token_bucket") h.expectMs(denied.retryAfterMs, T);
          if (algorithm === "sliding_window") h.expectMs(denied.retryAfterMs, W);
          if (algorithm === "fixed_window") h.expectMs(denied.retryAfterMs, h.fake ? W : denied.retryAfterMs);
        } else {
          // Leaky bucket without a wait budget: a strict rate, one call per interval.
          const first = await h.decide(o);
          expect(first.allowed).toBe(true);
          expect(first.remaining).toBe(2);
          const second = await h.decide(o);
          expect(second.allowed).toBe(false);
          h.expectMs(second.retryAfterMs, T);
        }
      });

      scenario("allows the same call once its retry hint has passed", async (h) => {
        await h.alignToWindow(W);
        const o = op(limiterId(algorithm), "k", make(3));
        let denied: OpResult | undefined;
        for (let i = 0; i < 5 && denied === undefined; i++) {
          const r = await h.decide(o);
          if (!r.allowed) denied = r;
        }
        if (denied === undefined) throw new Error("expected a denial");
        await h.advancePast(denied.retryAfterMs);
        expect((await h.decide(o)).allowed).toBe(true);
      });

      scenario("refills after idle", async (h) => {
        const params = make(3);
        const o = op(limiterId(algorithm), "k", params);
        await h.burst(o, 4);
        await h.advance(IDLE_MS);
        const view = await h.store.peek(o);
        expect(view.remaining).toBe(3);
        expect(view.resetAfterMs).toBe(0);
        if (bursts) expect(await h.burst(o, 3)).toEqual([true, true, true]);
      });

      scenario("cost > 1 consumes that many units; a denied cost consumes nothing", async (h) => {
        await h.alignToWindow(W);
        const params = make(5);
        const o3 = op(limiterId(algorithm), "k", params, 3);
        const o2 = { ...o3, cost: 2 };
        const first = await h.decide(o3, bursts ? 0 : 10 * T);
        expect(first.allowed).toBe(true);
        expect(first.remaining).toBe(2);
        if (bursts) {
          const second = await h.decide(o3);
          expect(second.allowed).toBe(false);
          expect(second.remaining).toBe(2);
          expect((await h.decide(o2)).allowed).toBe(true);
          expect((await h.store.peek(o2)).remaining).toBe(0);
        }
      });

      scenario(
        "a cost above the capacity is denied with retryAfterMs = Infinity and consumes nothing",
        async (h) => {
          const o = op(limiterId(algorithm), "k", make(3), 4);
          const r = await h.decide(o, 60_000);
          expect(r.allowed).toBe(false);
          expect(r.retryAfterMs).toBe(Number.POSITIVE_INFINITY);
          expect(r.waitMs).toBe(0);
          expect((await h.store.peek({ ...o, cost: 1 })).remaining).toBe(3);
        },
      );

      scenario("denied calls and peeks consume nothing", async (h) => {
        await h.alignToWindow(W);
        const o = op(limiterId(algorithm), "k", make(2));
        for (let i = 0; i < 3; i++) {
          const view = await h.store.peek(o);
          expect(view.remaining).toBe(2);
          expect(view.limit).toBe(2);
          expect(view.allowed).toBe(true);
        }
        const taken = bursts ? 2 : 1;
        await h.burst(o, taken);
        const before = await h.store.peek(o);
        expect(before.remaining).toBe(2 - taken);
        for (let i = 0; i < 5; i++) expect((await h.decide(o)).allowed).toBe(false);
        const after = await h.store.peek(o);
        expect(after.remaining).toBe(before.remaining);
        h.expectMs(after.resetAfterMs, before.resetAfterMs);
      });

      scenario("refund gives back an allowed call", async (h) => {
        await h.alignToWindow(W);
        const o = op(limiterId(algorithm), "k", make(2));
        const taken = bursts ? 2 : 1;
        expect(await h.burst(o, taken)).toEqual(new Array(taken).fill(true));
        expect((await h.decide(o)).allowed).toBe(false);
        await h.store.refund([o]);
        expect((await h.store.peek(o)).remaining).toBe(bursts ? 1 : 2);
        expect((await h.decide(o)).allowed).toBe(true);
      });

      scenario("reset forgets the key's state", async (h) => {
        const id = limiterId(algorithm);
        const o = op(id, "k", make(1));
        await h.decide(o);
        expect((await h.decide(o)).allowed).toBe(false);
        await h.store.reset(id, "k");
        expect((await h.store.peek(o)).remaining).toBe(1);
        expect((await h.decide(o)).allowed).toBe(true);
      });

      scenario("two keys, and two limiter ids, never share state", async (h) => {
        const id = limiterId(algorithm);
        const other = limiterId(algorithm);
        const params = make(1);
        expect((await h.decide(op(id, "a", params))).allowed).toBe(true);
        expect((await h.decide(op(id, "a", params))).allowed).toBe(false);
        expect((await h.decide(op(id, "b", params))).allowed).toBe(true);
        expect((await h.decide(op(other, "a", params))).allowed).toBe(true);
        await h.store.reset(id, "a");
        expect((await h.decide(op(id, "b", params))).allowed).toBe(false);
        expect((await h.decide(op(other, "a", params))).allowed).toBe(false);
      });
    });

    describe("charge", () => {
      const adaptive: RateParams = {
        kind: "adaptive",
        limit: 3,
        windowMs: W,
        burstMultiplier: 1,
        adaptiveWindowMs: W,
        highLoad: 0.8,
        lowLoad: 0.4,
        penalty: 0.5,
      };
      const charged: readonly (readonly [string, RateParams])[] = [
        ["token_bucket", tokenBucket(3)],
        ["fixed_window", window("fixed_window", 3)],
        ["sliding_window", window("sliding_window", 3)],
        ["sliding_window_counter", window("sliding_window_counter", 3)],
        ["adaptive", adaptive],
      ];
      for (const [algorithm, params] of charged) {
        scenario(
          `${algorithm}: a charge beyond the limit denies until its retry hint has passed`,
          async (h) => {
            const charge = h.store.charge?.bind(h.store);
            if (charge === undefined) return;
            await h.alignToWindow(W);
            const o = op(limiterId(algorithm), "k", params);
            // On an empty state, two charges in a row: 5 units of 3, in debt.
            await charge([{ ...o, cost: 2 }]);
            await charge([{ ...o, cost: 3 }]);
            const denied = await h.decide(o);
            expect(denied.allowed).toBe(false);
            expect(denied.remaining).toBe(0);
            expect(Number.isFinite(denied.retryAfterMs)).toBe(true);
            // The log: the charged units leave one window after they were counted.
            if (algorithm === "sliding_window") h.expectMs(denied.retryAfterMs, W);
            await h.advancePast(denied.retryAfterMs);
            expect((await h.decide(o)).allowed).toBe(true);
          },
        );
      }
    });

    describe("window alignment", () => {
      for (const kind of ["fixed_window", "sliding_window_counter"] as const) {
        scenario(`${kind}: windows align to the epoch, the same for every key`, async (h) => {
          await h.alignToWindow(W);
          const id = limiterId(kind);
          const params = window(kind, 1);
          const a = await h.decide(op(id, "a", params));
          await h.advance(300);
          const b = await h.decide(op(id, "b", params));
          expect(a.allowed && b.allowed).toBe(true);
          if (kind === "fixed_window") {
            // On a fake clock the scenario starts exactly at a window start; on a real one, in its first half.
            if (h.fake) h.expectMs(a.resetAfterMs, W);
            h.expectMs(b.resetAfterMs, a.resetAfterMs - 300);
            // Both keys' windows end at the same instant: `b` is denied until then, `a` too.
            const denied = await h.decide(op(id, "b", params));
            h.expectMs(denied.retryAfterMs, b.resetAfterMs);
            await h.advancePast(denied.retryAfterMs);
            expect((await h.decide(op(id, "a", params))).allowed).toBe(true);
            expect((await h.decide(op(id, "b", params))).allowed).toBe(true);
          } else {
            // The counter's state outlives its window by one window (it becomes the previous count).
            if (h.fake) h.expectMs(a.resetAfterMs, 2 * W);
            h.expectMs(b.resetAfterMs, a.resetAfterMs - 300);
          }
        });
      }

      scenario("sliding_window_counter: the previous window's count fades linearly", async (h) => {
        await h.alignToWindow(W);
        const o = op(limiterId("swc"), "k", window("sliding_window_counter", 4));
        expect(await h.burst(o, 4)).toEqual([true, true, true, true]);
        await h.advance(W); // same phase of the next window: previous = 4, weighted by what is left of it
        const next = await h.decide(o);
        if (h.fake) {
          // At the window start the previous count weighs fully: 4 * (1 - e/W) + 1 <= 4 once e >= W/4.
          expect(next.allowed).toBe(false);
          h.expectMs(next.retryAfterMs, W / 4);
        }
        if (!next.allowed) {
          await h.advancePast(next.retryAfterMs);
          expect((await h.decide(o)).allowed).toBe(true);
        }
      });
    });

    describe("reservations", () => {
      scenario("token_bucket: a wait budget reserves a slot and takes it", async (h) => {
        const o = op(limiterId("tb"), "k", tokenBucket(2));
        expect(await h.burst(o, 2)).toEqual([true, true]);
        const first = await h.decide(o, 10 * T);
        expect(first.allowed).toBe(true);
        h.expectMs(first.waitMs, T);
        expect(first.remaining).toBe(0);
        const second = await h.decide(o, 10 * T);
        expect(second.allowed).toBe(true);
        h.expectMs(second.waitMs, 2 * T);
        const tooLong = await h.decide(o, T);
        expect(tooLong.allowed).toBe(false);
        h.expectMs(tooLong.retryAfterMs, 3 * T);
        expect(tooLong.waitMs).toBe(0);
      });

      scenario("leaky_bucket: calls queue one interval apart, up to the burst", async (h) => {
        const o = op(limiterId("lb"), "k", leakyBucket(3));
        const waits: number[] = [];
        for (let i = 0; i < 3; i++) {
          const r = await h.decide(o, 10 * T);
          expect(r.allowed).toBe(true);
          waits.push(r.waitMs);
        }
        expect(waits[0]).toBe(0);
        h.expectMs(waits[1] ?? Number.NaN, T);
        h.expectMs(waits[2] ?? Number.NaN, 2 * T);
        const full = await h.decide(o, 10 * T);
        expect(full.allowed).toBe(false);
        h.expectMs(full.retryAfterMs, T);
        await h.advancePast(full.retryAfterMs);
        const queued = await h.decide(o, 10 * T);
        expect(queued.allowed).toBe(true);
        h.expectMs(queued.waitMs, 2 * T);
      });
    });

    describe("composites", () => {
      scenario("all or nothing: when the second member denies, the first is unchanged", async (h) => {
        const id = limiterId("composite");
        const params = window("fixed_window", 1);
        await h.alignToWindow(W);
        const a = op(id, "a", params);
        const b = op(id, "b", params);
        expect((await h.decide(b)).allowed).toBe(true);
        const batch = await h.store.decide([a, b], 0);
        expect(batch.allowed).toBe(false);
        expect(batch.results.map((r) => r.allowed)).toEqual([true, false]);
        expect((await h.store.peek(a)).remaining).toBe(1);
      });

      scenario("an allowed composite applies every member, across algorithms and leases", async (h) => {
        const id = limiterId("composite");
        const a = op(id, "a", tokenBucket(2));
        const b = op(id, "b", window("sliding_window", 2));
        const c = op(id, "c", concurrency(1), 1, "lease-1");
        const batch = await h.store.decide([a, b, c], 0);
        expect(batch.allowed).toBe(true);
        expect(batch.results.map((r) => r.remaining)).toEqual([1, 1, 0]);
        expect((await h.store.peek(a)).remaining).toBe(1);
        expect((await h.store.peek(b)).remaining).toBe(1);
        expect((await h.store.peek(c)).remaining).toBe(0);
        // A denied lease holds the whole batch back.
        const again = await h.store.decide([a, b, { ...c, leaseId: "lease-2" }], 0);
        expect(again.allowed).toBe(false);
        expect((await h.store.peek(a)).remaining).toBe(1);
        expect((await h.store.peek(b)).remaining).toBe(1);
      });
    });

    describe("leases", () => {
      const lease = (id: string, leaseId: string): StoreOp => op(id, "k", concurrency(2), 1, leaseId);

      scenario("grants up to N, denies, and a release frees a slot (idempotently)", async (h) => {
        const id = limiterId("cc");
        const a = await h.decide(lease(id, "a"));
        const b = await h.decide(lease(id, "b"));
        expect([a.allowed, b.allowed]).toEqual([true, true]);
        expect([a.remaining, b.remaining]).toEqual([1, 0]);
        const c = await h.decide(lease(id, "c"));
        expect(c.allowed).toBe(false);
        expect(c.remaining).toBe(0);
        h.expectMs(c.retryAfterMs, LEASE_MS);
        await h.store.release(id, "k", "a");
        await h.store.release(id, "k", "a");
        await h.store.release(id, "k", "never-granted");
        await h.store.release(id, "no-such-key", "a");
        expect((await h.store.peek(lease(id, "x"))).remaining).toBe(1);
        expect((await h.decide(lease(id, "c"))).allowed).toBe(true);
        expect((await h.decide(lease(id, "d"))).allowed).toBe(false);
      });

      scenario("renew extends a live lease; a released or expired one cannot be renewed", async (h) => {
        const id = limiterId("cc");
        await h.decide(lease(id, "a"));
        await h.decide(lease(id, "b"));
        await h.advance(LEASE_MS / 2);
        expect(await h.store.renew(id, "k", "a", LEASE_MS)).toBe(true);
        await h.store.release(id, "k", "b");
        expect(await h.store.renew(id, "k", "b", LEASE_MS)).toBe(false);
        // Half a lease length of margin either side: on a real clock, a loaded machine stretches every step.
        await h.advance(LEASE_MS / 2);
        // `a` was renewed at 0.5 and lives until 1.5 lease lengths.
        expect((await h.store.peek(lease(id, "x"))).remaining).toBe(1);
        await h.advance(LEASE_MS);
        expect(await h.store.renew(id, "k", "a", LEASE_MS)).toBe(false);
      });

      scenario("an expired lease frees its slot", async (h) => {
        const id = limiterId("cc");
        await h.decide(lease(id, "a"));
        await h.decide(lease(id, "b"));
        expect((await h.decide(lease(id, "c"))).allowed).toBe(false);
        await h.advancePast(LEASE_MS);
        const view = await h.store.peek(lease(id, "x"));
        expect(view.remaining).toBe(2);
        expect(view.resetAfterMs).toBe(0);
        expect(await h.burst(lease(id, "c"), 1)).toEqual([true]);
      });

      scenario(
        "refund of a lease releases it; reset forgets every lease and rate state of a key",
        async (h) => {
          const id = limiterId("cc");
          const a = lease(id, "a");
          await h.decide(a);
          await h.store.refund([a]);
          expect((await h.store.peek(a)).remaining).toBe(2);
          const rate = op(id, "k", window("fixed_window", 1));
          await h.decide(a);
          await h.decide(lease(id, "b"));
          await h.decide(rate);
          await h.store.reset(id, "k");
          expect((await h.store.peek(a)).remaining).toBe(2);
          expect((await h.store.peek(rate)).remaining).toBe(1);
        },
      );
    });

    describe("keys", () => {
      // Empty keys never reach a store (the API rejects them); 1 KiB is the longest key the API accepts.
      const keys = [
        "{a}",
        "a:b:c",
        "{tag}:x",
        "with space",
        "ünïcødé 🔑 键",
        "k".repeat(1024),
        "é".repeat(512),
        "}{",
      ];

      scenario("keys with braces, colons, spaces, unicode and 1 KiB each keep their own state", async (h) => {
        const id = limiterId("keys");
        const params = window("sliding_window", 1);
        for (const key of keys) expect((await h.decide(op(id, key, params))).allowed).toBe(true);
        for (const key of keys) expect((await h.decide(op(id, key, params))).allowed).toBe(false);
        await h.store.reset(id, keys[1] as string);
        expect((await h.decide(op(id, keys[1] as string, params))).allowed).toBe(true);
        expect((await h.decide(op(id, keys[0] as string, params))).allowed).toBe(false);
      });

      scenario("keys that differ only by the separators a store might use stay apart", async (h) => {
        const params = window("fixed_window", 1);
        const a = limiterId("sep");
        // (limiterId "x:y", key "z") vs (limiterId "x", key "y:z"), and keys holding separators and tags.
        const pairs: Array<[string, string]> = [
          [`${a}:y`, "z"],
          [a, "y:z"],
          [a, "fw1000\0z"],
          [a, "z"],
          [a, "{z}"],
        ];
        for (const [id, key] of pairs) expect((await h.decide(op(id, key, params))).allowed).toBe(true);
      });
    });

    describe("clear", () => {
      /** The store's clear, which every built-in store has. */
      const clearOf = (store: Store) => {
        if (store.clear === undefined) throw new Error(`store ${store.engine} has no clear`);
        return store.clear.bind(store);
      };
      /** The count `keyCount` must give: exact where the store counts, none on Redis (documented as such). */
      const expectKeyCount = async (store: Store, id: string, keys: number) => {
        const count = await store.keyCount?.(id);
        if (store.engine === "redis") expect(count).toBeUndefined();
        else expect(count).toBe(keys);
      };

      scenario(
        "forgets every key of one limiter id (rate states of two tags and leases), and only those",
        async (h) => {
          const base = limiterId("clear");
          const id = `${base}:<userId>`;
          // Neighbours a careless prefix match would take: a longer id, an explicit clone's id, the plain base id.
          const neighbours = [`${base}x:<userId>`, `${base}:42`, base];
          const fixed = LONG_WINDOW;
          const bucket = tokenBucket(1);
          const slots = concurrency(1);
          const keys = [
            `${base}:42`,
            `${base}:7`,
            "a*b",
            "[x]",
            "a?",
            "back\\slash",
            "{t}",
            "ünï 🔑",
            "lone \uD800",
          ];
          for (const key of keys) expect((await h.decide(op(id, key, fixed))).allowed).toBe(true);
          // A second state tag under one key, and a lease under another.
          expect((await h.decide(op(id, keys[0] as string, bucket))).allowed).toBe(true);
          expect((await h.decide(op(id, keys[1] as string, slots, 1, "lease-1"))).allowed).toBe(true);
          for (const other of neighbours)
            expect((await h.decide(op(other, `${base}:42`, fixed))).allowed).toBe(true);
          await expectKeyCount(h.store, id, keys.length);

          expect(await clearOf(h.store)(id)).toBe(keys.length);

          for (const key of keys) expect((await h.decide(op(id, key, fixed))).allowed).toBe(true);
          expect((await h.decide(op(id, keys[0] as string, bucket))).allowed).toBe(true);
          expect((await h.decide(op(id, keys[1] as string, slots, 1, "lease-2"))).allowed).toBe(true);
          for (const other of neighbours)
            expect((await h.decide(op(other, `${base}:42`, fixed))).allowed).toBe(false);
          await expectKeyCount(h.store, `${base}:42`, 1);
          // Nothing left to clear: a second clear counts nothing.
          expect(await clearOf(h.store)(`${base}x:<userId>`)).toBe(1);
          expect(await clearOf(h.store)(`${base}x:<userId>`)).toBe(0);
        },
      );

      scenario("limiter ids holding glob characters match only themselves", async (h) => {
        const base = limiterId("glob");
        const fixed = LONG_WINDOW;
        // Pairs of equal length: unescaped, `a*` would match `ab`'s keys and `x[yz]` those of `xy:ab`.
        const pairs: Array<[string, string]> = [
          [`${base}a*`, `${base}ab`],
          [`${base}x[yz]`, `${base}xy:ab`],
          [`${base}q?`, `${base}qq`],
          [`${base}\\*`, `${base}\\\\`],
        ];
        for (const [globby, plain] of pairs) {
          for (const id of [globby, plain]) expect((await h.decide(op(id, "k", fixed))).allowed).toBe(true);
        }
        for (const [globby, plain] of pairs) {
          expect(await clearOf(h.store)(globby)).toBe(1);
          expect((await h.decide(op(globby, "k", fixed))).allowed).toBe(true);
          expect((await h.decide(op(plain, "k", fixed))).allowed).toBe(false);
        }
      });

      scenario("clears more keys than one batch holds (2,500), counting each once", async (h) => {
        const id = limiterId("clear-many");
        const fixed = LONG_WINDOW;
        const slots = concurrency(1);
        const keys = Array.from({ length: 2_500 }, (_, i) => `k${i}`);
        for (let i = 0; i < keys.length; i += 250) {
          const chunk = keys.slice(i, i + 250);
          const batches = await Promise.all(chunk.map((key) => h.store.decide([op(id, key, fixed)], 0)));
          expect(batches.every((batch) => batch.allowed)).toBe(true);
        }
        // Some keys hold leases too: still one key each.
        for (const key of keys.slice(0, 10)) {
          expect((await h.decide(op(id, key, slots, 1, `lease-${key}`))).allowed).toBe(true);
        }
        await expectKeyCount(h.store, id, keys.length);
        expect(await clearOf(h.store)(id)).toBe(keys.length);
        await expectKeyCount(h.store, id, 0);
        const again = await Promise.all(keys.map((key) => h.store.decide([op(id, key, fixed)], 0)));
        expect(again.every((batch) => batch.allowed)).toBe(true);
      });
    });
  });
}
