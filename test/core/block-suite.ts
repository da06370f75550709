/**
 * The block tests run on each store (see `block.test.ts` for the in-process stores and the config, and
 * `block-shared.test.ts` for Redis and PostgreSQL): a denial by the rate limit starts a block that denies every
 * call (consuming nothing) until it ends, the block escalates on repeat within `block_memory` and starts over
 * after it, `reset` clears it, `peek` and the HTTP headers show it, the `blocked` event fires once per block,
 * composites and several limits are blocked as a whole, a remote store's over-limit cache answers a blocked key
 * locally, and no call passes a running block under contention (4 processes × 64 in flight).
 *
 * Times are real (remote stores decide on their own clock): every wait is a lower bound with a wide margin on
 * the side that cannot flake (blocks are started by a call that is denied whatever the time, checked well
 * inside their length, and once they have surely ended).
 */

import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { rateLimitHeaders, retryAfterSeconds } from "../../src/http/headers.ts";
import { type BlockedEvent, RateSync } from "../../src/index.ts";
import { admittedThroughFacade } from "../helpers/facade-workers.ts";
import { uniqueName } from "../helpers/stores.ts";

/** A store the suite runs on. */
export interface StoreCase {
  readonly name: string;
  readonly available: boolean;
  readonly store: Record<string, unknown>;
  readonly cleanup: () => Promise<void>;
  /** True when several processes share the state (a contention test makes sense). */
  readonly shared: boolean;
  /** True when the store has an over-limit cache (remote stores). */
  readonly remote: boolean;
}

/** A bucket of 2 that refills one unit every 10 ms: without a block, a denied key is admitted again at once. */
const fast = { rate: "100/s", burst: 2 };
/**
 * A call the fast bucket denies whatever the time (its cost is above the capacity): how the tests start a block
 * without racing the refill. Its own `retryAfterMs` is `Infinity` (that cost never passes).
 */
const denyNow = (rs: RateSync, key: string) => rs.tryAcquire(key, { cost: 3 });

/** Registers the block tests on `store`. */
export function blockSuite(store: StoreCase): void {
  describe.skipIf(!store.available)(`block after a denial, ${store.name} store`, () => {
    const instances: RateSync[] = [];
    const make = (limiters: Record<string, unknown>): RateSync => {
      const rs = RateSync.fromConfig({ stores: { s: store.store }, limiters });
      instances.push(rs);
      return rs;
    };
    afterAll(async () => {
      await Promise.all(instances.map((rs) => rs.close()));
      await store.cleanup();
    });
    const id = (name: string) => `${name}-${uniqueName(store.name)}`;

    it("the denial that starts a block retries after the block's length", async () => {
      const limiter = id("natural");
      // No refill during the test: the third call is denied by the bucket itself.
      const rs = make({ [limiter]: { rate: "1/h", burst: 2, block: "2s" } });
      expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      const denied = await rs.tryAcquire(limiter);
      expect(denied).toMatchObject({ allowed: false, blocked: true, remaining: 0 });
      // The bucket alone would say an hour; the block is shorter, so the bucket's wait stands.
      expect(denied.retryAfterMs).toBeGreaterThan(3_500_000);
      const short = id("natural-short");
      const rs2 = make({ [short]: { rate: "1/10s", burst: 1, block: "1h" } });
      expect((await rs2.tryAcquire(short)).allowed).toBe(true);
      expect(await rs2.tryAcquire(short)).toMatchObject({
        allowed: false,
        blocked: true,
        retryAfterMs: 3_600_000,
      });
    });

    it("a denial starts a block that denies every call, consuming nothing, until it ends", async () => {
      const limiter = id("fixed");
      const rs = make({ [limiter]: { ...fast, block: "2s" } });
      const events: BlockedEvent[] = [];
      rs.on("blocked", (event) => events.push(event));
      expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      const denied = await denyNow(rs, limiter);
      expect(denied).toMatchObject({ allowed: false, blocked: true, remaining: 0 });
      expect(events).toEqual([{ limiter, key: limiter, durationMs: 2000, count: 1 }]);

      // The bucket refills meanwhile; the block still denies, with the time left in it, and starts nothing new.
      await sleep(300);
      const during = await rs.tryAcquire(limiter);
      expect(during).toMatchObject({ allowed: false, blocked: true, remaining: 0 });
      expect(during.retryAfterMs).toBeGreaterThan(0);
      expect(during.retryAfterMs).toBeLessThan(2000);
      expect(during.resetAfterMs).toBeGreaterThanOrEqual(during.retryAfterMs);
      expect(events).toHaveLength(1);
      // Retry-After and RateLimit follow from the decision: the time left in the block, nothing remaining.
      expect(retryAfterSeconds(during.retryAfterMs)).toBe(Math.max(1, Math.ceil(during.retryAfterMs / 1000)));
      const headers = Object.fromEntries(rateLimitHeaders(during, "both"));
      expect(headers["X-RateLimit-Remaining"]).toBe("0");
      expect(headers.RateLimit).toMatch(new RegExp(`;r=0;t=${Math.ceil(during.resetAfterMs / 1000)}$`));

      const state = await rs.peek(limiter);
      expect(state.remaining).toBe(0);
      expect(state.blockedForMs).toBeGreaterThan(0);
      expect(state.blockedForMs).toBeLessThanOrEqual(during.retryAfterMs);

      // Once it has ended, the key is admitted again.
      await sleep(during.retryAfterMs + 100);
      expect((await rs.peek(limiter)).blockedForMs).toBeUndefined();
      const after = await rs.tryAcquire(limiter);
      expect(after.allowed).toBe(true);
      expect(after.blocked).toBeUndefined();
    }, 15_000);

    it("escalates on repeat within block_memory; the last step repeats", async () => {
      const limiter = id("escalating");
      const rs = make({
        [limiter]: { ...fast, block_escalation: ["300ms", "700ms"], block_memory: "1h" },
      });
      const events: BlockedEvent[] = [];
      rs.on("blocked", (event) => events.push(event));
      const expected = [300, 700, 700];
      for (const length of expected) {
        expect(await denyNow(rs, limiter)).toMatchObject({ allowed: false, blocked: true });
        await sleep(length + 100);
        expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      }
      expect(events.map((e) => [e.durationMs, e.count])).toEqual([
        [300, 1],
        [700, 2],
        [700, 3],
      ]);
    }, 15_000);

    it("starts over once block_memory has passed since the previous block ended", async () => {
      const limiter = id("forgetting");
      const rs = make({
        [limiter]: { ...fast, block_escalation: ["300ms", "5s"], block_memory: "200ms" },
      });
      const lengths: number[] = [];
      rs.on("blocked", (event) => lengths.push(event.durationMs));
      expect((await denyNow(rs, limiter)).blocked).toBe(true);
      await sleep(300 + 200 + 200);
      expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      expect((await denyNow(rs, limiter)).blocked).toBe(true);
      expect(lengths).toEqual([300, 300]);
    }, 15_000);

    it("reset clears the block and the row of blocks", async () => {
      const limiter = id("reset");
      const rs = make({ [limiter]: { ...fast, block_escalation: ["1h", "2h"] } });
      const lengths: number[] = [];
      rs.on("blocked", (event) => lengths.push(event.durationMs));
      expect((await denyNow(rs, limiter)).blocked).toBe(true);
      expect((await rs.peek(limiter)).blockedForMs).toBeGreaterThan(3_500_000);
      await rs.reset(limiter);
      expect((await rs.peek(limiter)).blockedForMs).toBeUndefined();
      expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      // Forgotten: the next block is the first of a row again.
      expect((await denyNow(rs, limiter)).blocked).toBe(true);
      expect(lengths).toEqual([3_600_000, 3_600_000]);
    });

    it("a blocked member denies a composite, which consumes nothing in the others", async () => {
      const blocking = id("composite-blocking");
      const other = id("composite-other");
      const rs = make({ [blocking]: { ...fast, block: "1h" }, [other]: { rate: "1/h", burst: 5 } });
      expect((await denyNow(rs, blocking)).blocked).toBe(true);
      const composite = await rs.tryAcquire([other, blocking]);
      expect(composite).toMatchObject({ allowed: false, blocked: true, key: blocking });
      expect(composite.retryAfterMs).toBeGreaterThan(3_500_000);
      expect((await rs.peek(other)).remaining).toBe(5);
      // A composite denied by the other member does not block the blocking limiter's key... of a fresh key.
      const fresh = id("composite-fresh");
      const rs2 = make({
        [fresh]: { rate: "1/h", burst: 5, block: "1h" },
        [`${fresh}-tight`]: { rate: "1/h", burst: 1 },
      });
      expect((await rs2.tryAcquire([fresh, `${fresh}-tight`])).allowed).toBe(true);
      const byOther = await rs2.tryAcquire([fresh, `${fresh}-tight`]);
      expect(byOther.allowed).toBe(false);
      expect(byOther.blocked).toBeUndefined();
      expect((await rs2.tryAcquire(fresh)).allowed).toBe(true);
    });

    it("with several limits, a denial by any of them blocks the key", async () => {
      const limiter = id("limits");
      const rs = make({
        [limiter]: {
          limits: [
            { rate: "1/h", burst: 10 },
            { algorithm: "fixed_window", limit: 2, window: "3650d" },
          ],
          block: "1h",
        },
      });
      expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      const denied = await rs.tryAcquire(limiter);
      expect(denied).toMatchObject({ allowed: false, blocked: true, retryAfterMs: 3_600_000 });
      const state = await rs.peek(limiter);
      expect(state.blockedForMs).toBeGreaterThan(3_500_000);
      expect(state.remaining).toBe(0);
    });

    it("acquire() with a timeout shorter than the block gives up at once", async () => {
      const limiter = id("acquire");
      const rs = make({ [limiter]: { ...fast, block: "1h" } });
      expect((await denyNow(rs, limiter)).blocked).toBe(true);
      await expect(rs.acquire(limiter, { timeout: "200ms" })).rejects.toMatchObject({
        decision: { blocked: true },
      });
    });

    // Registered only where they apply (no skipped tests): the over-limit cache is a remote store's, and
    // contention needs a store several processes share.
    if (store.remote)
      it("the over-limit cache answers a blocked key locally until the block ends", async () => {
        const limiter = id("cache");
        const rs = make({ [limiter]: { ...fast, block: "1h" } });
        expect((await denyNow(rs, limiter)).blocked).toBe(true);
        // The first call of cost 1 asks the store (the cached denial was of a larger cost); the rest are local.
        expect((await rs.tryAcquire(limiter)).blocked).toBe(true);
        const hits = rs.metrics().limiters[limiter]?.localCacheHits ?? 0;
        for (let i = 0; i < 20; i++) {
          const decision = await rs.tryAcquire(limiter);
          expect(decision.allowed).toBe(false);
          expect(decision.retryAfterMs).toBeGreaterThan(3_500_000);
        }
        expect(rs.metrics().limiters[limiter]?.localCacheHits).toBe(hits + 20);
      });

    if (store.shared)
      it("no call passes a running block: 4 processes × 64 in flight", async () => {
        const limiter = id("contention");
        const limiters = { [limiter]: { ...fast, block: "1h" } };
        const rs = make(limiters);
        expect((await denyNow(rs, limiter)).blocked).toBe(true);
        // The bucket refills 100 units a second while the workers run: only the block keeps them out.
        const config = { stores: { s: store.store }, limiters };
        const admitted = await admittedThroughFacade(4, { config, key: limiter, total: 200, inFlight: 64 });
        expect(admitted).toBe(0);
        expect((await rs.peek(limiter)).blockedForMs).toBeGreaterThan(3_000_000);
      }, 60_000);

    if (store.shared)
      it("a block started under contention holds: 4 processes × 64 in flight", async () => {
        const limiter = id("contention-start");
        // No refill during the test: exactly the burst passes, and the denials block the key for every process.
        const limiters = { [limiter]: { rate: "1/h", burst: 20, block: "1h" } };
        const config = { stores: { s: store.store }, limiters };
        const admitted = await admittedThroughFacade(4, { config, key: limiter, total: 100, inFlight: 64 });
        expect(admitted).toBe(20);
        // The denials started one block, which every process sees.
        const rs = make(limiters);
        expect((await rs.peek(limiter)).blockedForMs).toBeGreaterThan(3_000_000);
      }, 60_000);
  });
}
