/**
 * The Redis store on a real Redis Cluster: three masters started here on loopback, joined with
 * `redis-cli --cluster create`, and torn down after. Decisions are batched per hash slot; under contention
 * (4 processes × 64 in flight, every algorithm, a hot key and 10k keys) each key admits exactly its limit.
 */

import { type ChildProcess, execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConcurrencyParams, RateParams } from "../../src/algorithms/types.ts";
import { RateSync } from "../../src/index.ts";
import { RedisStore } from "../../src/stores/redis/index.ts";
import { hashSlot, stateKey } from "../../src/stores/redis/keys.ts";
import type { StoreOp } from "../../src/stores/store.ts";
import { admittedThroughFacade } from "../helpers/facade-workers.ts";
import { type PrivateCluster, startCluster } from "../helpers/redis-cluster.ts";
import { expectRefundContentionHolds } from "../helpers/refund-contention.ts";
import { requireRedis } from "../helpers/stores.ts";
import { redisConfig } from "./redis/setup.ts";
import { admittedBy, contentionLimits } from "./redis/workers.ts";

const run = promisify(execFile);
const redis = await requireRedis();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!redis.available)("redis store on a Redis Cluster", () => {
  let cluster: PrivateCluster;
  let servers: readonly ChildProcess[] = [];
  let ports: readonly number[] = [];
  let store: RedisStore;
  let prefix = "";

  beforeAll(async () => {
    cluster = await startCluster();
    ({ servers, ports } = cluster);
    const config = redisConfig([...cluster.urls], { cluster: true, timeoutMs: 3_000 });
    prefix = config.keyPrefix;
    store = new RedisStore(config);
  }, 60_000);

  afterAll(async () => {
    await store?.close();
    await cluster?.stop();
  });

  const params: RateParams = { kind: "fixed_window", limit: 2, windowMs: 3_600_000 };

  it("decides single members on every slot", async () => {
    for (const key of ["a", "b", "c", "d", "e"]) {
      const op: StoreOp = { limiterId: "cl", key, params, cost: 1 };
      expect((await store.decide([op], 0)).results[0]?.remaining).toBe(1);
      expect((await store.decide([op], 0)).allowed).toBe(true);
      expect((await store.decide([op], 0)).allowed).toBe(false);
    }
  });

  it("a Cluster client handed over is detected as one: composites across slots stay all-or-nothing", async () => {
    const { Cluster } = await import("ioredis");
    const cluster = new Cluster(ports.map((port) => ({ host: "127.0.0.1", port })));
    const keyPrefix = `${prefix}_byo`;
    const rs = RateSync.fromConfig(
      {
        stores: { main: { engine: "redis", client: "app", key_prefix: keyPrefix, timeout: "3s" } },
        limiters: {
          "a:<id>": { store: "main", algorithm: "fixed_window", limit: 2, window: "1h" },
          "b:<id>": { store: "main", algorithm: "fixed_window", limit: 1, window: "1h" },
        },
      },
      { clients: { app: cluster } },
    );
    try {
      // Keys in different slots: one script could not hold both, so the store must know it is on a Cluster.
      let other = "y0";
      for (
        let i = 0;
        hashSlot(stateKey(keyPrefix, "b:<id>", other)) === hashSlot(stateKey(keyPrefix, "a:<id>", "a:x"));
        i++
      )
        other = `y${i}`;
      expect((await rs.tryAcquire(["a:x", `b:${other}`])).allowed).toBe(true);
      const second = await rs.tryAcquire(["a:x", `b:${other}`]);
      expect(second.allowed).toBe(false);
      // The member that passed was refunded: a:x has used 1 of 2, so one more alone is allowed, then none.
      expect((await rs.tryAcquire("a:x")).allowed).toBe(true);
      expect((await rs.tryAcquire("a:x")).allowed).toBe(false);
    } finally {
      await rs.close();
    }
    expect(cluster.status).toBe("ready");
    cluster.disconnect();
  });

  it("composites across slots are all-or-nothing (passed members are refunded)", async () => {
    // Two keys that certainly live in different slots.
    let other = "y0";
    for (
      let i = 0;
      hashSlot(stateKey(prefix, "comp", other)) === hashSlot(stateKey(prefix, "comp", "x"));
      i++
    )
      other = `y${i}`;
    const a: StoreOp = { limiterId: "comp", key: "x", params, cost: 1 };
    const b: StoreOp = { limiterId: "comp", key: other, params: { ...params, limit: 1 }, cost: 1 };
    const first = await store.decide([a, b], 0);
    expect(first.allowed).toBe(true);
    const second = await store.decide([a, b], 0);
    expect(second.allowed).toBe(false);
    expect(second.results.map((r) => r.allowed)).toEqual([true, false]);
    // `a` was refunded: it still has one unit left of its limit of 2.
    expect((await store.peek(a)).remaining).toBe(1);
    // Same-slot members (two tags of one key) still go in one script.
    const c: StoreOp = { limiterId: "comp", key: "z", params, cost: 1 };
    const d: StoreOp = {
      limiterId: "comp",
      key: "z",
      params: { kind: "token_bucket", intervalMs: 1000, burst: 1 },
      cost: 1,
    };
    expect((await store.decide([c, d], 0)).allowed).toBe(true);
    expect((await store.decide([c, d], 0)).allowed).toBe(false);
    expect((await store.peek(c)).remaining).toBe(1);
  });

  it("several limits on one limiter admit exactly the strictest under contention (4 processes × 64 in flight)", async () => {
    // Every limit of a key lives in the key's one hash slot: one atomic script decides them all.
    const store = {
      engine: "redis",
      cluster: true,
      url: ports.map((p) => `redis://127.0.0.1:${p}`),
      key_prefix: prefix,
    };
    const limits = [
      { rate: "1/h", burst: 150 },
      { algorithm: "fixed_window", limit: 100, window: "3650d" },
    ];
    const config = { stores: { s: store }, limiters: { multi: { limits } } };
    expect(await admittedThroughFacade(4, { config, key: "multi", total: 100, inFlight: 64 })).toBe(100);
    const rs = RateSync.fromConfig(config);
    try {
      // The 300 denied calls took nothing from the bucket.
      expect((await rs.peek("multi")).limits?.map((l) => l.remaining)).toEqual([50, 0]);
    } finally {
      await rs.close();
    }
  }, 60_000);

  it("a block holds under contention (4 processes × 64 in flight) and denies a composite across slots", async () => {
    const store = {
      engine: "redis",
      cluster: true,
      url: ports.map((p) => `redis://127.0.0.1:${p}`),
      key_prefix: prefix,
      timeout: "3s",
    };
    // A bucket that refills 100 units a second: only the block keeps the workers out.
    const limiters = {
      "blk:<id>": { rate: "100/s", burst: 3, block: "1h" },
      "other:<id>": { rate: "1/h", burst: 5 },
      "multi:<id>": {
        limits: [
          { rate: "1/h", burst: 10 },
          { algorithm: "fixed_window", limit: 2, window: "3650d" },
        ],
        block: "1h",
      },
    };
    const config = { stores: { s: store }, limiters };
    const rs = RateSync.fromConfig(config);
    try {
      // A cost above the capacity is denied whatever the time: it starts the block without racing the refill.
      expect(await rs.tryAcquire("blk:hot", { cost: 4 })).toMatchObject({ allowed: false, blocked: true });
      expect(await admittedThroughFacade(4, { config, key: "blk:hot", total: 200, inFlight: 64 })).toBe(0);
      expect((await rs.peek("blk:hot")).blockedForMs).toBeGreaterThan(3_000_000);
      // A member in another slot is given back when the blocked one denies the composite.
      let other = "other:y0";
      for (
        let i = 0;
        hashSlot(stateKey(prefix, "other:<id>", other)) === hashSlot(stateKey(prefix, "blk:<id>", "blk:hot"));
        i++
      )
        other = `other:y${i}`;
      expect(await rs.tryAcquire([other, "blk:hot"])).toMatchObject({ allowed: false, blocked: true });
      expect((await rs.peek(other)).remaining).toBe(5);
      // Every limit of a key and its block are decided together even in a composite across slots: a denial by
      // the second limit starts the block.
      let apart = "other:z0";
      for (
        let i = 0;
        hashSlot(stateKey(prefix, "other:<id>", apart)) ===
        hashSlot(stateKey(prefix, "multi:<id>", "multi:k"));
        i++
      )
        apart = `other:z${i}`;
      expect((await rs.tryAcquire([apart, "multi:k"])).allowed).toBe(true);
      expect((await rs.tryAcquire([apart, "multi:k"])).allowed).toBe(true);
      expect(await rs.tryAcquire([apart, "multi:k"])).toMatchObject({ allowed: false, blocked: true });
      expect((await rs.peek(apart)).remaining).toBe(3);
      expect((await rs.tryAcquire("multi:k")).blocked).toBe(true);
      await rs.reset("blk:hot");
      expect((await rs.tryAcquire("blk:hot")).allowed).toBe(true);
    } finally {
      await rs.close();
    }
  }, 60_000);

  it("refund, charge and settle reach every member of a composite across slots, and every limit", async () => {
    const rs = RateSync.fromConfig({
      stores: {
        s: { engine: "redis", cluster: true, url: [...cluster.urls], key_prefix: `${prefix}_settle` },
      },
      limiters: {
        "w:<id>": { algorithm: "fixed_window", limit: 10, window: "3650d" },
        "m:<id>": {
          limits: [
            { rate: "1/h", burst: 10 },
            { algorithm: "fixed_window", limit: 8, window: "3650d" },
          ],
        },
      },
    });
    try {
      // Two members whose keys live in different slots.
      let other = "y0";
      for (
        let i = 0;
        hashSlot(stateKey(`${prefix}_settle`, "m:<id>", `m:${other}`)) ===
        hashSlot(stateKey(`${prefix}_settle`, "w:<id>", "w:x"));
        i++
      )
        other = `y${i}`;
      const keys = ["w:x", `m:${other}`];
      const remaining = async () => [
        (await rs.peek("w:x")).remaining,
        ...(await rs.peek(`m:${other}`)).limits!.map((l) => l.remaining),
      ];
      const decision = await rs.tryAcquire(keys, { cost: 6 });
      expect(await remaining()).toEqual([4, 4, 2]);
      await decision.settle!(2);
      expect(await remaining()).toEqual([8, 8, 6]);
      await rs.charge(keys, 7);
      expect(await remaining()).toEqual([1, 1, 0]);
      await rs.refund(keys, 3);
      expect(await remaining()).toEqual([4, 4, 2]);
      // The charge went past the fixed window's limit of 8 (9 used), the refund took 3 back: 6 used.
      expect((await rs.tryAcquire(`m:${other}`, { cost: 3 })).allowed).toBe(false);
    } finally {
      await rs.close();
    }
  });

  it("settles under contention (4 processes × 64 in flight): the actual usage never passes the limit", async () => {
    const limit = 500;
    const key = "settled";
    const config = {
      stores: {
        s: { engine: "redis", cluster: true, url: [...cluster.urls], key_prefix: `${prefix}_contended` },
      },
      limiters: { [key]: { algorithm: "fixed_window", limit, window: "3650d" } },
    };
    await expectRefundContentionHolds({ config, key, limit, estimate: 10, via: "settle" });
  }, 60_000);

  it("leases, renew, release and reset work on the cluster", async () => {
    const lease: StoreOp = {
      limiterId: "cl",
      key: "lease",
      params: { kind: "concurrency", maxConcurrent: 1, leaseMs: 5000 },
      cost: 1,
      leaseId: "L1",
    };
    expect((await store.decide([lease], 0)).allowed).toBe(true);
    expect(await store.renew("cl", "lease", "L1", 5000)).toBe(true);
    expect((await store.decide([{ ...lease, leaseId: "L2" }], 0)).allowed).toBe(false);
    await store.release("cl", "lease", "L1");
    expect((await store.decide([{ ...lease, leaseId: "L2" }], 0)).allowed).toBe(true);
    await store.reset("cl", "lease");
    expect(await store.renew("cl", "lease", "L2", 5000)).toBe(false);
  });

  it("clear finds a limiter's keys on every master (SCAN on each) and unlinks them, leaving other limiters", async () => {
    const slots: ConcurrencyParams = { kind: "concurrency", maxConcurrent: 1, leaseMs: 60_000 };
    const keys = Array.from({ length: 300 }, (_, i) => `user-${i}`);
    // Keys in every third of the slot range, so on each of the three masters.
    const masters = new Set(keys.map((key) => (hashSlot(stateKey(prefix, "clr:<id>", key)) * 3) >> 14));
    expect(masters.size).toBe(3);
    for (const key of keys) {
      expect((await store.decide([{ limiterId: "clr:<id>", key, params, cost: 1 }], 0)).allowed).toBe(true);
    }
    const lease: StoreOp = { limiterId: "clr:<id>", key: "user-0", params: slots, cost: 1, leaseId: "L1" };
    expect((await store.decide([lease], 0)).allowed).toBe(true);
    const other: StoreOp = { limiterId: "clrx:<id>", key: "user-0", params, cost: 1 };
    expect((await store.decide([other], 0)).allowed).toBe(true);

    expect(await store.clear("clr:<id>")).toBe(keys.length);

    const full = { ...params, limit: 1 };
    for (const key of keys) {
      expect((await store.peek({ limiterId: "clr:<id>", key, params: full, cost: 1 })).remaining).toBe(1);
    }
    expect((await store.decide([{ ...lease, leaseId: "L2" }], 0)).allowed).toBe(true);
    expect((await store.peek(other)).remaining).toBe(1);
    expect(await store.keyCount("clr:<id>")).toBeUndefined();
  });

  for (const [keys, limit] of [
    [undefined, 100],
    [10_000, 2],
  ] as const) {
    for (const { params, extra } of contentionLimits(limit)) {
      it(`${params.kind}, ${keys === undefined ? "hot key" : `${keys} keys`}: 4 processes × 64 in flight admit exactly the limit`, async () => {
        const n = await admittedBy(4, {
          url: ports.map((p) => `redis://127.0.0.1:${p}`),
          cluster: true,
          keyPrefix: prefix,
          params,
          key: `contention-${keys ?? 1}-${params.kind}`,
          ...(keys === undefined ? { total: 160 } : { keys, total: keys * limit }),
          inFlight: 64,
          holdMs: 0,
          ...extra,
        });
        expect(n).toBe((keys ?? 1) * limit);
      }, 120_000);
    }
  }

  it("a node frozen past the timeout: calls that timed out leave no usage once it resumes", async () => {
    // Which port serves which slots (`CLUSTER NODES`: `… host:port@bus … master … 0-5460 …`).
    const nodes = (await run("redis-cli", ["-p", String(ports[0]), "cluster", "nodes"])).stdout;
    const ranges: { port: number; from: number; to: number }[] = [];
    for (const line of nodes.trim().split("\n")) {
      const fields = line.split(" ");
      const port = Number(fields[1]?.split("@")[0]?.split(":")[1]);
      for (const range of fields.slice(8)) {
        const [from, to] = range.split("-").map(Number);
        if (from !== undefined) ranges.push({ port, from, to: to ?? from });
      }
    }
    const portOf = (key: string) => {
      const slot = hashSlot(stateKey(prefix, "frz", key));
      return ranges.find((r) => slot >= r.from && slot <= r.to)?.port;
    };
    const frozenPort = portOf("f0")!;
    const frozenKeys = Array.from({ length: 40 }, (_, i) => `f${i}`).filter((k) => portOf(k) === frozenPort);
    let liveKey = "l0";
    for (let i = 1; portOf(liveKey) === frozenPort; i++) liveKey = `l${i}`;
    const child = servers[ports.indexOf(frozenPort)]!;
    const wide: RateParams = { kind: "fixed_window", limit: 100, windowMs: 3_600_000 };
    const op = (key: string): StoreOp => ({ limiterId: "frz", key, params: wide, cost: 1 });
    const fast = new RedisStore(
      redisConfig(
        ports.map((p) => `redis://127.0.0.1:${p}`),
        { cluster: true, timeoutMs: 300, keyPrefix: prefix },
      ),
      { breaker: { failureThreshold: 1_000 }, overLimitCache: false },
    );
    try {
      // Replies from every node first: the store learns each slot's clock.
      for (const key of [...frozenKeys, liveKey]) await fast.peek(op(key));
      for (const key of [...frozenKeys, liveKey])
        expect((await fast.decide([op(key)], 0)).allowed).toBe(true);
      child.kill("SIGSTOP");
      const calls = [
        ...frozenKeys.map((key) => fast.decide([op(key)], 0)),
        // Across slots: the live member passes first, then the frozen one times out.
        fast.decide([op(liveKey), op(frozenKeys[0]!)], 0),
      ];
      const outcomes = await Promise.all(
        calls.map((c) =>
          c.then(
            () => "ok",
            (e: unknown) => e,
          ),
        ),
      );
      for (const outcome of outcomes) expect(outcome).toBeInstanceOf(Error);
      await sleep(500);
      child.kill("SIGCONT");
      await sleep(500);
      for (const key of [liveKey, ...frozenKeys]) {
        expect((await store.peek(op(key))).remaining, key).toBe(99);
      }
    } finally {
      child.kill("SIGCONT");
      await fast.close();
    }
  }, 30_000);
});
