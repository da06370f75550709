/**
 * Several limits on one limiter (`limits = [...]`), on every store: decided all or nothing in one atomic step (a
 * denial consumes nothing in the other limits), the most constraining one in the decision, each one in
 * `decision.limits`, `peek` and the RateLimit headers, reloads keeping each limit's usage, and exact admission
 * of the strictest limit under contention (4 processes × 64 in flight).
 */

import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { rateLimitHeaders } from "../../src/http/headers.ts";
import { RateSync } from "../../src/index.ts";
import { admittedThroughFacade } from "../helpers/facade-workers.ts";
import { requirePostgres, requireRedis, uniqueName } from "../helpers/stores.ts";
import { dropStoreObjects } from "../stores/postgres/setup.ts";
import { deleteByPrefix } from "../stores/redis/setup.ts";

const redis = await requireRedis();
const postgres = await requirePostgres();

/** A limit that never refills during a test: `burst` calls, then one an hour. */
const bucket = (burst: number) => ({ rate: "1/h", burst });
/** A fixed window that never rolls over during a test (windows align to the epoch). */
const window = (limit: number, name?: string) => ({
  algorithm: "fixed_window",
  limit,
  window: "3650d",
  ...(name === undefined ? {} : { name }),
});

interface StoreCase {
  readonly name: string;
  readonly available: boolean;
  /** The store table of the config, unique to this run. */
  readonly store: Record<string, unknown>;
  readonly cleanup: () => Promise<void>;
  /** True when several processes share the state (a contention test makes sense). */
  readonly shared: boolean;
}

const redisPrefix = uniqueName("multi_limits");
const pgTable = uniqueName("multi_limits");
const cases: StoreCase[] = [
  { name: "memory", available: true, store: { engine: "memory" }, cleanup: async () => {}, shared: false },
  {
    name: "redis",
    available: redis.available,
    store: { engine: "redis", url: redis.url, key_prefix: redisPrefix },
    cleanup: async () => {
      const raw = new Redis(redis.url);
      await deleteByPrefix(raw, redisPrefix);
      raw.disconnect();
    },
    shared: true,
  },
  {
    name: "postgres",
    available: postgres.available,
    store: { engine: "postgres", url: postgres.url, table_name: pgTable },
    cleanup: () => dropStoreObjects({ schemaName: "public", tableName: pgTable }, postgres.url),
    shared: true,
  },
];

for (const store of cases) {
  describe.skipIf(!store.available)(`several limits on one limiter, ${store.name} store`, () => {
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

    it("admits exactly the strictest limit, and a denial consumes nothing in the others", async () => {
      const limiter = id("window-strictest");
      const rs = make({ [limiter]: { limits: [bucket(5), window(3)] } });
      const allowed: boolean[] = [];
      for (let i = 0; i < 6; i++) allowed.push((await rs.tryAcquire(limiter)).allowed);
      expect(allowed).toEqual([true, true, true, false, false, false]);
      const state = await rs.peek(limiter);
      // The bucket gave 3, not 6: the three denied calls took nothing from it.
      expect(state.limits?.map((l) => l.remaining)).toEqual([2, 0]);
      expect(state.policy.name).toBe(`${limiter}/2`);
    });

    it("is as strict when the bucket is the strictest limit", async () => {
      const limiter = id("bucket-strictest");
      const rs = make({ [limiter]: { limits: [bucket(2), window(10, "total")] } });
      let admitted = 0;
      for (let i = 0; i < 5; i++) if ((await rs.tryAcquire(limiter)).allowed) admitted++;
      expect(admitted).toBe(2);
      expect((await rs.peek(limiter)).limits?.map((l) => l.remaining)).toEqual([0, 8]);
    });

    it("reports the most constraining limit, and every limit in decision.limits and the headers", async () => {
      const limiter = id("report");
      const rs = make({ [limiter]: { limits: [bucket(10), window(4, "total")] } });
      const first = await rs.tryAcquire(limiter);
      // 9 of 10 left in the bucket, 3 of 4 in the window: the window is the tighter one.
      expect(first).toMatchObject({
        allowed: true,
        limit: 4,
        remaining: 3,
        policy: { name: `${limiter}/total` },
      });
      expect(first.limits?.map((l) => [l.policy.name, l.limit, l.remaining, l.allowed])).toEqual([
        [`${limiter}/1`, 10, 9, true],
        [`${limiter}/total`, 4, 3, true],
      ]);
      const headers = Object.fromEntries(rateLimitHeaders(first, "draft-10"));
      expect(headers["RateLimit-Policy"]).toBe(
        `"${limiter}/1";q=10;w=36000, "${limiter}/total";q=4;w=315360000`,
      );
      expect(headers.RateLimit).toMatch(
        new RegExp(`^"${limiter}/1";r=9;t=\\d+, "${limiter}/total";r=3;t=\\d+$`),
      );
      for (let i = 0; i < 3; i++) await rs.tryAcquire(limiter);
      const denied = await rs.tryAcquire(limiter);
      expect(denied).toMatchObject({ allowed: false, remaining: 0, policy: { name: `${limiter}/total` } });
      expect(denied.retryAfterMs).toBeGreaterThan(0);
      // The bucket passed this call but was not applied: it still has its 6.
      expect(denied.limits?.map((l) => [l.remaining, l.allowed])).toEqual([
        [6, true],
        [0, false],
      ]);
    });

    it("keeps a state per limit even for two limits of one algorithm and window", async () => {
      const limiter = id("same-shape");
      const rs = make({ [limiter]: { limits: [window(5), window(3)] } });
      let admitted = 0;
      for (let i = 0; i < 6; i++) if ((await rs.tryAcquire(limiter)).allowed) admitted++;
      // One shared state would count each call twice and admit 1.
      expect(admitted).toBe(3);
    });

    it("keeps each limit's usage across a change that keeps its algorithm and window", async () => {
      const limiter = id("reload");
      const rs = make({ [limiter]: { limits: [bucket(10), window(2)] } });
      expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      expect((await rs.tryAcquire(limiter)).allowed).toBe(false);
      rs.dynamic(limiter).update({ limits: [bucket(10), window(3)] });
      expect((await rs.tryAcquire(limiter)).allowed).toBe(true);
      expect((await rs.tryAcquire(limiter)).allowed).toBe(false);
      expect((await rs.peek(limiter)).limits?.map((l) => l.remaining)).toEqual([7, 0]);
    });

    it("clones per key from a template, and takes part in composites all or nothing", async () => {
      const template = `${id("tpl")}:<tenant>`;
      const other = id("other");
      const rs = make({ [template]: { limits: [bucket(3), window(2)] }, [other]: { limits: [window(5)] } });
      const a = template.replace("<tenant>", "a");
      const b = template.replace("<tenant>", "b");
      expect((await rs.tryAcquire([a, other])).allowed).toBe(true);
      expect((await rs.tryAcquire([a, other])).allowed).toBe(true);
      expect((await rs.tryAcquire([a, other])).allowed).toBe(false);
      // The refused composite took nothing from `other`; `b` has a state of its own.
      expect((await rs.peek(other)).remaining).toBe(3);
      expect((await rs.tryAcquire(b)).allowed).toBe(true);
    });

    it("waits in acquire() for the limit that denied", async () => {
      const limiter = id("acquire");
      // One call per 500 ms: the second call must wait, however slow the store is between the two (at 50 ms a
      // slow round trip let the bucket refill before the second call, which then did not wait).
      const rs = make({ [limiter]: { limits: [{ rate: "2/s", burst: 1 }, window(10)] } });
      await rs.acquire(limiter);
      const lease = await rs.acquire(limiter, { timeout: "3s" });
      expect(lease.decision.allowed).toBe(true);
      // The bucket denied at first: the call waited for it.
      expect(lease.waitedMs).toBeGreaterThan(20);
      expect((await rs.peek(limiter)).limits?.[1]?.remaining).toBe(8);
    });

    // Only where several processes share the state: a memory store is one process's own.
    if (store.shared)
      it("admits exactly the strictest limit under contention (4 processes × 64 in flight)", async () => {
        const limiter = id("contention");
        const config = {
          stores: { s: store.store },
          limiters: { [limiter]: { limits: [bucket(150), window(100)] } },
        };
        const admitted = await admittedThroughFacade(4, { config, key: limiter, total: 100, inFlight: 64 });
        expect(admitted).toBe(100);
        const rs = make({ [limiter]: { limits: [bucket(150), window(100)] } });
        // The 300 denied calls took nothing from the bucket.
        expect((await rs.peek(limiter)).limits?.map((l) => l.remaining)).toEqual([50, 0]);
      }, 60_000);
  });
}
