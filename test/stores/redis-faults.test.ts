/**
 * Faults: a TCP proxy between the store and Redis is cut and restored mid-load; scripts are flushed; the driver
 * is missing; a worker holding leases is killed.
 */

import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isStoreError, StoreUnavailableError } from "../../src/errors.ts";
import { RedisStore } from "../../src/stores/redis/index.ts";
import type { StoreOp } from "../../src/stores/store.ts";
import { requireRedis, uniqueName } from "../helpers/stores.ts";
import { TcpProxy } from "../helpers/tcp-proxy.ts";
import { deleteByPrefix, redisConfig, redisFixture } from "./redis/setup.ts";
import { startWorkers } from "./redis/workers.ts";

const redis = await requireRedis();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!redis.available)("redis store faults", () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  beforeAll(() => {
    process.on("unhandledRejection", onUnhandled);
  });
  afterAll(() => {
    process.off("unhandledRejection", onUnhandled);
  });
  afterEach(() => {
    expect(unhandled).toEqual([]);
  });

  it("a cut connection fails fast within the timeout, opens the breaker, and recovers by itself", async () => {
    const target = new URL(redis.url);
    const proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 6379) });
    const TIMEOUT = 300;
    const config = redisConfig(`redis://127.0.0.1:${proxy.port}`, { timeoutMs: TIMEOUT });
    const store = new RedisStore(config, { breaker: { failureThreshold: 3, coolDownMs: 200 } });
    const raw = new Redis(redis.url);
    const op: StoreOp = {
      limiterId: "faults",
      key: "k",
      params: { kind: "token_bucket", intervalMs: 1, burst: 1_000_000 },
      cost: 1,
    };
    try {
      expect((await store.decide([op], 0)).allowed).toBe(true);
      // Load in flight while the link dies.
      const load = Array.from({ length: 50 }, () =>
        store.decide([op], 0).then(
          () => "ok",
          (e: unknown) => e,
        ),
      );
      proxy.cut();
      const outcomes = await Promise.all(load);
      for (const outcome of outcomes) if (outcome !== "ok") expect(isStoreError(outcome)).toBe(true);

      // While the link stays down: every call settles within the budget, and the breaker opens.
      for (let i = 0; i < 5; i++) {
        const started = performance.now();
        const error = await store.decide([op], 0).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isStoreError(error)).toBe(true);
        expect(performance.now() - started).toBeLessThan(TIMEOUT + 200);
      }
      expect(store.stats().breaker).toBe("open");
      const fastStart = performance.now();
      const fast = await store.decide([op], 0).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isStoreError(fast)).toBe(true);
      expect(performance.now() - fastStart).toBeLessThan(20);

      // Restore: the store reconnects and the breaker closes, with no restart.
      proxy.restore();
      let recovered = false;
      for (let i = 0; i < 60 && !recovered; i++) {
        await sleep(100);
        recovered = await store.decide([op], 0).then(
          (r) => r.allowed,
          () => false,
        );
      }
      expect(recovered).toBe(true);
      expect(store.stats().breaker).toBe("closed");
      expect(store.stats().errors).toBeGreaterThan(0);
    } finally {
      await store.close();
      await deleteByPrefix(raw, config.keyPrefix);
      raw.disconnect();
      await proxy.close();
    }
  }, 30_000);

  it("a server that stops answering costs the timeout, not a hang", async () => {
    const target = new URL(redis.url);
    const proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 6379) });
    const config = redisConfig(`redis://127.0.0.1:${proxy.port}`, { timeoutMs: 200 });
    const store = new RedisStore(config);
    const op: StoreOp = {
      limiterId: "faults",
      key: "bh",
      params: { kind: "fixed_window", limit: 5, windowMs: 1000 },
      cost: 1,
    };
    try {
      await store.decide([op], 0);
      proxy.blackhole();
      const started = performance.now();
      const error = await store.decide([op], 0).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isStoreError(error)).toBe(true);
      expect((error as Error).message).toContain("timed out");
      expect(performance.now() - started).toBeLessThan(400);
    } finally {
      await store.close();
      await proxy.close();
      const raw = new Redis(redis.url);
      await deleteByPrefix(raw, config.keyPrefix);
      raw.disconnect();
    }
  });

  it("SCRIPT FLUSH: the scripts are reloaded once, then run by SHA again", async () => {
    const fixture = redisFixture(redis.url);
    const monitor = new Redis(redis.url);
    const op: StoreOp = {
      limiterId: "flush",
      key: "k",
      params: { kind: "fixed_window", limit: 100, windowMs: 60_000 },
      cost: 1,
    };
    try {
      await fixture.store.decide([op], 0);
      const seen: string[] = [];
      const feed = await monitor.monitor();
      feed.on("monitor", (_time: string, args: string[]) => {
        if (args.some((a) => a.startsWith(fixture.config.keyPrefix)))
          seen.push(String(args[0]).toLowerCase());
      });
      await fixture.raw.script("FLUSH");
      for (let i = 0; i < 5; i++) await fixture.store.decide([op], 0);
      await sleep(100);
      feed.disconnect();
      // One EVALSHA hits NOSCRIPT, one EVAL reloads, and the other four calls go by SHA again.
      expect(seen.filter((c) => c === "eval")).toHaveLength(1);
      expect(seen.filter((c) => c === "evalsha")).toHaveLength(5);
      expect((await fixture.store.peek(op)).remaining).toBe(94);
    } finally {
      monitor.disconnect();
      await fixture.close();
    }
  });

  it("a missing ioredis package rejects every call with StoreUnavailableError", async () => {
    const store = new RedisStore(redisConfig(redis.url), {
      importDriver: () => Promise.reject(new Error("Cannot find package 'ioredis'")),
    });
    const op: StoreOp = {
      limiterId: "x",
      key: "k",
      params: { kind: "fixed_window", limit: 1, windowMs: 1000 },
      cost: 1,
    };
    for (let i = 0; i < 7; i++) {
      const error = await store.decide([op], 0).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as StoreUnavailableError).packageName).toBe("ioredis");
    }
    await expect(store.reset("x", "k")).rejects.toBeInstanceOf(StoreUnavailableError);
    await store.close();
  });

  it("error messages never contain the password", async () => {
    const store = new RedisStore(redisConfig("redis://user:hunter2@127.0.0.1:1", { timeoutMs: 200 }));
    const op: StoreOp = {
      limiterId: "x",
      key: "k",
      params: { kind: "fixed_window", limit: 1, windowMs: 1000 },
      cost: 1,
    };
    const error = await store.decide([op], 0).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isStoreError(error)).toBe(true);
    expect(String((error as Error).message)).not.toContain("hunter2");
    await store.close();
  });

  it("a worker killed while holding leases: the slots come back after the lease", async () => {
    const keyPrefix = uniqueName("redis_crash");
    const LEASE_MS = 600;
    const params = { kind: "concurrency", maxConcurrent: 3, leaseMs: LEASE_MS } as const;
    const workers = await startWorkers(1, {
      url: redis.url,
      keyPrefix,
      params,
      key: "crash",
      total: 3,
      inFlight: 3,
      holdMs: 0,
      holdForever: true,
    });
    const worker = workers[0];
    if (worker === undefined) throw new Error("no worker");
    expect((await worker.report).allowed).toBe(3);
    worker.child.kill("SIGKILL");
    const store = new RedisStore(redisConfig(redis.url, { keyPrefix }));
    const raw = new Redis(redis.url);
    try {
      const op: StoreOp = { limiterId: "contention", key: "crash", params, cost: 1, leaseId: "survivor" };
      const denied = await store.decide([op], 0);
      expect(denied.allowed).toBe(false);
      await sleep((denied.results[0]?.retryAfterMs ?? LEASE_MS) + 50);
      expect((await store.decide([op], 0)).allowed).toBe(true);
    } finally {
      await store.close();
      await deleteByPrefix(raw, keyPrefix);
      raw.disconnect();
    }
  });
});
