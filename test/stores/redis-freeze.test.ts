/**
 * Redis frozen (SIGSTOP) for longer than the call timeout, then resumed (SIGCONT), on a private redis-server:
 * the calls that timed out meanwhile — their callers saw store errors — must leave no usage behind once Redis
 * runs what piled up: no fixed window count, no tokens taken, no concurrency slot held (right after the resume,
 * not after a lease). Two freezes: one shorter than the socket timeout (the connection survives and the late
 * replies arrive), one longer (ioredis drops the connection; Redis still runs the commands it had received).
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LimitParams } from "../../src/algorithms/types.ts";
import { isStoreError } from "../../src/errors.ts";
import { RedisStore } from "../../src/stores/redis/index.ts";
import type { StoreOp } from "../../src/stores/store.ts";
import { PrivateRedis } from "../helpers/private-redis.ts";
import { requireRedis } from "../helpers/stores.ts";
import { redisConfig } from "./redis/setup.ts";

const redis = await requireRedis();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const TIMEOUT = 300;
const FIXED: LimitParams = { kind: "fixed_window", limit: 1_000, windowMs: 3_600_000 };
const BUCKET: LimitParams = { kind: "token_bucket", intervalMs: 3_600_000, burst: 1_000 };
const SLOTS: LimitParams = { kind: "concurrency", maxConcurrent: 2, leaseMs: 60_000 };

describe.skipIf(!redis.available)("redis frozen and resumed: timed-out calls leave no usage", () => {
  let server: PrivateRedis;
  beforeAll(async () => {
    server = await PrivateRedis.start();
  }, 20_000);
  afterAll(async () => {
    await server?.stop();
  });

  for (const freezeMs of [700, 1_800]) {
    it(`frozen ${freezeMs} ms (timeout ${TIMEOUT} ms)`, async () => {
      const config = redisConfig(server.url, { timeoutMs: TIMEOUT });
      // The breaker would turn most calls into fast failures that never reach Redis; this test is about the
      // calls that do reach it late.
      const store = new RedisStore(config, { breaker: { failureThreshold: 1_000 }, overLimitCache: false });
      const inspector = new RedisStore(config, { overLimitCache: false });
      const ops = (key: string): StoreOp[] => [
        { limiterId: "freeze", key: `fw-${key}`, params: FIXED, cost: 1 },
        { limiterId: "freeze", key: `tb-${key}`, params: BUCKET, cost: 1 },
      ];
      let lease = 0;
      const slot = (): StoreOp => ({
        limiterId: "freeze",
        key: "cc",
        params: SLOTS,
        cost: 1,
        leaseId: `lease-${lease++}`,
      });
      try {
        // Warm up: a connection, loaded scripts and a few replies to learn the store's clock from.
        for (let i = 0; i < 3; i++) await store.decide([{ ...ops("warm")[0]! }], 0);

        server.freeze();
        const calls: Promise<unknown>[] = [];
        for (let i = 0; i < 20; i++) {
          for (const op of ops("x")) calls.push(store.decide([op], 0));
        }
        // A composite too: both members in one script.
        calls.push(store.decide(ops("both"), 0));
        calls.push(store.decide([slot()], 0), store.decide([slot()], 0));
        const outcomes = await Promise.all(
          calls.map((c) =>
            c.then(
              () => "ok",
              (e: unknown) => e,
            ),
          ),
        );
        // The caller saw every one of them fail.
        for (const outcome of outcomes) expect(isStoreError(outcome)).toBe(true);
        await sleep(freezeMs - TIMEOUT);
        server.resume();
        // Right after the resume: whatever Redis ran meanwhile has been refused or given back.
        await sleep(300);
        for (const key of ["x", "both"]) {
          for (const op of ops(key)) {
            expect((await inspector.peek(op)).remaining, `${op.key} after the resume`).toBe(1_000);
          }
        }
        const held = await inspector.peek(slot());
        expect(held.remaining, "concurrency slots after the resume").toBe(2);
        // And the store works again for its own callers.
        let recovered = false;
        for (let i = 0; i < 50 && !recovered; i++) {
          recovered = await store.decide([slot()], 0).then(
            (r) => r.allowed,
            () => false,
          );
          if (!recovered) await sleep(100);
        }
        expect(recovered).toBe(true);
      } finally {
        await store.close();
        await inspector.close();
      }
    }, 30_000);
  }

  it("a store that has no reply yet (no clock estimate, no deadline sent): late allowed replies are refunded", async () => {
    const config = redisConfig(server.url, { timeoutMs: TIMEOUT });
    const store = new RedisStore(config, { breaker: { failureThreshold: 1_000 }, overLimitCache: false });
    const inspector = new RedisStore(config, { overLimitCache: false });
    const op: StoreOp = { limiterId: "freeze", key: "first", params: FIXED, cost: 1 };
    const lease: StoreOp = { limiterId: "freeze", key: "first-cc", params: SLOTS, cost: 1, leaseId: "a" };
    try {
      server.freeze();
      // The very first calls: they wait for the connection, then go out when Redis answers again.
      const calls = [store.decide([op], 0), store.decide([op], 0), store.decide([lease], 0)];
      const outcomes = await Promise.all(
        calls.map((c) =>
          c.then(
            () => "ok",
            (e: unknown) => e,
          ),
        ),
      );
      for (const outcome of outcomes) expect(isStoreError(outcome)).toBe(true);
      await sleep(400);
      server.resume();
      let refunded = 0;
      for (let i = 0; i < 50 && refunded < 3; i++) {
        await sleep(100);
        refunded = store.stats().lateRefunds;
      }
      expect(refunded).toBe(3);
      await sleep(100);
      expect((await inspector.peek(op)).remaining).toBe(1_000);
      expect((await inspector.peek(lease)).remaining).toBe(2);
    } finally {
      await store.close();
      await inspector.close();
    }
  }, 30_000);
});
