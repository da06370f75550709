/**
 * A fleet on Redis overrides: this process writes, two worker processes decide (one of them through a TCP
 * proxy that can cut it off). Each follows every set, change, expiry and unset; a bad override is refused when
 * written and, written into the store anyway, reported and never applied; a process cut off keeps what it had
 * and catches up on what was written meanwhile; a Redis restart (a private, persistent server) loses nothing.
 */

import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RateSync } from "../../src/index.ts";
import { redisOverrideKeys } from "../../src/overrides/redis-source.ts";
import { PrivateRedis } from "../helpers/private-redis.ts";
import { TcpProxy } from "../helpers/tcp-proxy.ts";
import { FleetWorker } from "./fleet.ts";

const KEY_PREFIX = "rs_overrides_fleet";

function toml(url: string): string {
  return `
[stores.main]
engine = "redis"
url = "${url}"
key_prefix = "${KEY_PREFIX}"
timeout = "200ms"

[overrides]
store = "main"
check_interval = "200ms"

[limiters."api:<tenant>"]
rate = "100/s"
`;
}

describe("overrides on Redis, across processes", () => {
  let server: PrivateRedis;
  let proxy: TcpProxy;
  let writer: RateSync;
  let direct: FleetWorker;
  let proxied: FleetWorker;
  let raw: Redis;

  beforeAll(async () => {
    server = await PrivateRedis.start({ durable: true });
    proxy = await TcpProxy.start({ host: "127.0.0.1", port: server.port });
    raw = new Redis(server.url);
    raw.on("error", () => {});
    writer = RateSync.fromToml(toml(server.url), { quiet: true });
    writer.on("reloadError", () => {});
    await writer.overrides.ready();
    [direct, proxied] = await Promise.all([
      FleetWorker.start(toml(server.url)),
      FleetWorker.start(toml(`redis://127.0.0.1:${proxy.port}`)),
    ]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([direct?.stop(), proxied?.stop()]);
    await writer?.close();
    raw?.disconnect();
    await proxy?.close();
    await server?.stop();
  });

  const everyone = () => [direct, proxied];

  it("follows a set, a change and an unset; the other keys keep the template", async () => {
    await writer.overrides.set("api:acme", { rate: "500/s" }, { reason: "INC-42", by: "alice" });
    for (const worker of everyone()) await worker.waitFor("api:acme", 500);
    for (const worker of everyone()) expect(await worker.quota("api:other")).toBe(100);
    await writer.overrides.set("api:acme", { rate: "300/s" }, { reason: "INC-42", by: "alice" });
    for (const worker of everyone()) await worker.waitFor("api:acme", 300);
    await writer.overrides.set("api:beta", { burst: 42 });
    for (const worker of everyone()) await worker.waitFor("api:beta", 42);
    expect(await writer.overrides.unset("api:beta")).toBe(true);
    for (const worker of everyone()) await worker.waitFor("api:beta", 100);
    const listed = await writer.overrides.list();
    expect(listed.map((r) => [r.id, r.patch, r.reason, r.by])).toEqual([
      ["api:acme", { rate: "300/s" }, "INC-42", "alice"],
    ]);
    const history = await writer.overrides.history(10);
    expect(history.map((h) => `${h.action} ${h.id}`)).toEqual([
      "unset api:beta",
      "set api:beta",
      "set api:acme",
      "set api:acme",
    ]);
  }, 60_000);

  it("refuses a bad override when written, and never applies one written into the store anyway", async () => {
    await expect(writer.overrides.set("api:bad", { rate: "fast" })).rejects.toThrow(
      /overrides\."api:bad"\.rate/,
    );
    const keys = redisOverrideKeys(KEY_PREFIX);
    const bad = JSON.stringify({ id: "api:bad", patch: { rate: "fast" }, at: Date.now() });
    await raw.hset(keys.data, "api:bad", bad);
    const version = await raw.incr(keys.version);
    await raw.publish(keys.channel, String(version));
    // A good one written after it shows the bad one has been read (same sync or an earlier one).
    await writer.overrides.set("api:gamma", { burst: 7 });
    for (const worker of everyone()) {
      await worker.waitFor("api:gamma", 7);
      expect(await worker.quota("api:bad")).toBe(100);
      expect(worker.errors.some((message) => /api:bad.*rate/.test(message))).toBe(true);
    }
    await raw.hdel(keys.data, "api:bad");
  }, 60_000);

  it("expires an override in every process at its time, and removes it from the store", async () => {
    await writer.overrides.set("api:temp", { burst: 55 }, { ttl: "3s", reason: "load test" });
    for (const worker of everyone()) await worker.waitFor("api:temp", 55);
    for (const worker of everyone()) await worker.waitFor("api:temp", 100);
    const keys = redisOverrideKeys(KEY_PREFIX);
    for (let i = 0; i < 100 && (await raw.hexists(keys.data, "api:temp")); i++) await sleep(50);
    expect(await raw.hexists(keys.data, "api:temp")).toBe(0);
    for (const worker of everyone()) expect(worker.events).toContain("expire api:temp");
  }, 60_000);

  it("keeps the overrides of a process cut off, and catches up on what was written meanwhile", async () => {
    proxy.cut();
    await writer.overrides.set("api:acme", { rate: "700/s" });
    await direct.waitFor("api:acme", 700);
    // Cut off: it keeps deciding under the last override it applied.
    expect(await proxied.quota("api:acme")).toBe(300);
    expect(await proxied.quota("api:gamma")).toBe(7);
    proxy.restore();
    await proxied.waitFor("api:acme", 700);
  }, 60_000);

  it("loses no override to a Redis restart, and applies what is written after it", async () => {
    await server.restart();
    for (const worker of everyone()) {
      expect(await worker.quota("api:acme")).toBe(700);
      expect(await worker.quota("api:gamma")).toBe(7);
    }
    await eventually(() => writer.overrides.set("api:delta", { burst: 9 }));
    for (const worker of everyone()) {
      await worker.waitFor("api:delta", 9);
      expect(await worker.quota("api:acme")).toBe(700);
    }
    expect((await writer.overrides.list()).map((r) => r.id)).toEqual(["api:acme", "api:delta", "api:gamma"]);
  }, 60_000);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Retries `task` until it succeeds (the writer's connection comes back after the restart). */
async function eventually<T>(task: () => Promise<T>, withinMs = 15_000): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await task();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}
