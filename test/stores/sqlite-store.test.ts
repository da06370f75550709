/**
 * The SQLite store beyond the conformance suite, on real database files: state that survives closing and
 * reopening the file, keys that never collide, the sweep of expired rows, a file whose lock is held by someone
 * else (busy timeout, breaker, one attempt per call), files that cannot be opened, the config's
 * `engine = "sqlite"`, and `tryAcquireSync` through the facade.
 */

import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { LimitParams } from "../../src/algorithms/types.ts";
import { parseConfigText } from "../../src/config/load.ts";
import {
  ConfigError,
  isStoreError,
  RateSync,
  SqliteStore,
  StoreError,
  SyncUnavailableError,
} from "../../src/index.ts";
import { RedisStore } from "../../src/stores/redis/redis-store.ts";
import type { StoreOp } from "../../src/stores/store.ts";
import { FakeClock } from "../helpers/clock.ts";
import { tempDatabases } from "./sqlite/setup.ts";

const require = createRequire(import.meta.url);
const Database = require("better-sqlite3") as typeof import("better-sqlite3");
const databases = tempDatabases("store");
afterAll(() => databases.remove());

let files = 0;
function freshConfig(overrides: Parameters<typeof databases.config>[1] = {}) {
  files += 1;
  return databases.config(`store-${files}`, overrides);
}

const fixed: LimitParams = { kind: "fixed_window", limit: 3, windowMs: 3_600_000 };
const slots: LimitParams = { kind: "concurrency", maxConcurrent: 2, leaseMs: 3_600_000 };
const op = (key: string, params: LimitParams = fixed, leaseId?: string): StoreOp =>
  leaseId === undefined
    ? { limiterId: "api", key, params, cost: 1 }
    : { limiterId: "api", key, params, cost: 1, leaseId };

function rowCount(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM rate_sync_state").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe("SQLite store: state in a file", () => {
  it("keeps usage and leases across closing and reopening the file", async () => {
    const config = freshConfig();
    const first = new SqliteStore(config, { sweepIntervalMs: 0 });
    expect(first.decideNow([op("k")], 0).allowed).toBe(true);
    expect(first.decideNow([op("k")], 0).allowed).toBe(true);
    expect(first.decideNow([op("k", slots, "lease-a")], 0).allowed).toBe(true);
    await first.close();

    // A new store on the same file: a restarted process.
    const second = new SqliteStore(config, { sweepIntervalMs: 0 });
    expect((await second.peek(op("k"))).remaining).toBe(1);
    expect(second.decideNow([op("k")], 0).allowed).toBe(true);
    expect(second.decideNow([op("k")], 0).allowed).toBe(false);
    expect((await second.peek(op("k", slots))).remaining).toBe(1);
    // The lease taken before the restart is still the one held: it can be renewed, then released.
    expect(await second.renew("api", "k", "lease-a", 60_000)).toBe(true);
    await second.release("api", "k", "lease-a");
    expect((await second.peek(op("k", slots))).remaining).toBe(2);
    await second.close();
  });

  it("reset forgets every state of a key under a limiter, its leases included, and nothing else", async () => {
    const config = freshConfig();
    const store = new SqliteStore(config, { sweepIntervalMs: 0 });
    store.decideNow([op("k"), op("k", slots, "l1")], 0);
    store.decideNow([op("other")], 0);
    await store.reset("api", "k");
    expect((await store.peek(op("k"))).remaining).toBe(3);
    expect((await store.peek(op("k", slots))).remaining).toBe(2);
    expect((await store.peek(op("other"))).remaining).toBe(2);
    expect(rowCount(config.path)).toBe(1);
    await store.close();
  });

  it("keeps keys apart whatever characters they hold (NUL, lone surrogates, quotes)", async () => {
    const store = new SqliteStore(freshConfig(), { sweepIntervalMs: 0 });
    // In UTF-8 both lone surrogates would become U+FFFD, and a NUL could end a C string.
    const keys = [
      "a\uD800",
      "a\uDBFF",
      "a\u0000b",
      "a",
      "a\u0001",
      "'; DROP TABLE rate_sync_state; --",
      "ключ",
    ];
    for (const key of keys) expect(store.decideNow([op(key)], 0).allowed).toBe(true);
    for (const key of keys) expect((await store.peek(op(key))).remaining).toBe(2);
    await store.close();
  });

  it("a composite is all or nothing: a denied member leaves the others untouched", async () => {
    const store = new SqliteStore(freshConfig(), { sweepIntervalMs: 0 });
    const one: LimitParams = { kind: "fixed_window", limit: 1, windowMs: 3_600_000 };
    expect(store.decideNow([op("full", one)], 0).allowed).toBe(true);
    const batch = store.decideNow([op("free"), op("full", one)], 0);
    expect(batch.allowed).toBe(false);
    expect(batch.results.map((r) => r.allowed)).toEqual([true, false]);
    expect((await store.peek(op("free"))).remaining).toBe(3);
    await store.close();
  });
});

describe("SQLite store: the sweep of expired rows", () => {
  it("deletes expired rows in bounded batches and keeps live ones", async () => {
    const clock = new FakeClock();
    const config = freshConfig();
    const store = new SqliteStore(config, { now: clock.now, sweepIntervalMs: 0 });
    const short: LimitParams = { kind: "fixed_window", limit: 5, windowMs: 1000 };
    for (let i = 0; i < 25; i++) store.decideNow([op(`short-${i}`, short)], 0);
    store.decideNow([op("long")], 0);
    expect(rowCount(config.path)).toBe(26);
    expect(store.sweepExpired(10)).toBe(0); // nothing has expired yet
    clock.advance(1000);
    // At most a few batches per sweep: 4 × 10 would fit all 25.
    expect(store.sweepExpired(10)).toBe(25);
    expect(rowCount(config.path)).toBe(1);
    expect(store.stats().swept).toBe(25);
    expect((await store.peek(op("long"))).remaining).toBe(2);
    await store.close();
  });

  it("a sweep stops after a few full batches, so it never holds the lock for long", async () => {
    const clock = new FakeClock();
    const config = freshConfig();
    const store = new SqliteStore(config, { now: clock.now, sweepIntervalMs: 0 });
    const short: LimitParams = { kind: "fixed_window", limit: 5, windowMs: 1000 };
    for (let i = 0; i < 50; i++) store.decideNow([op(`short-${i}`, short)], 0);
    clock.advance(1000);
    expect(store.sweepExpired(5)).toBe(20);
    expect(store.sweepExpired(5)).toBe(20);
    expect(store.sweepExpired(5)).toBe(10);
    await store.close();
  });

  it("sweeps in the background once the store is in use", async () => {
    const config = freshConfig();
    const store = new SqliteStore(config, { sweepIntervalMs: 10 });
    const short: LimitParams = { kind: "fixed_window", limit: 5, windowMs: 1 };
    for (let i = 0; i < 5; i++) store.decideNow([op(`short-${i}`, short)], 0);
    await expect.poll(() => store.stats().swept, { timeout: 10_000 }).toBe(5);
    expect(rowCount(config.path)).toBe(0);
    await store.close();
  });
});

describe("SQLite store: a file locked by someone else", () => {
  /** Another connection holding the write lock until `release()`. */
  function holdLock(path: string) {
    const db = new Database(path);
    db.exec("BEGIN IMMEDIATE");
    return { release: () => db.close() };
  }

  it("fails a call after busy_timeout, once per call, and opens the breaker after repeated failures", async () => {
    const config = freshConfig({ busyTimeoutMs: 20 });
    let now = 0;
    const store = new SqliteStore(config, {
      sweepIntervalMs: 0,
      breaker: { failureThreshold: 3, coolDownMs: 1000, now: () => now },
    });
    store.open();
    const lock = holdLock(config.path);
    try {
      const rs = RateSync.fromConfig(
        {
          stores: { local: { engine: "sqlite", path: config.path } },
          limiters: {
            open: { algorithm: "fixed_window", limit: 1, window: "1h", on_store_error: "allow" },
            closed: { algorithm: "fixed_window", limit: 1, window: "1h", on_store_error: "deny" },
          },
        },
        { stores: { local: store }, quiet: true },
      );
      const open = await rs.tryAcquire("open");
      expect(open).toMatchObject({ allowed: true, degraded: "store-error" });
      // One attempt per call: the engine asks decideNow, then decide with the same ops, which must not wait
      // for the lock a second time.
      expect(store.stats()).toMatchObject({ calls: 2, errors: 1 }); // the open, then the one attempt
      const error = await rs.acquire("closed", { timeout: 0 }).catch((e: unknown) => e);
      expect(isStoreError(error)).toBe(true);
      expect((error as StoreError).message).toMatch(/Store "local": decide failed: database is locked/);
      expect(store.stats()).toMatchObject({ calls: 3, errors: 2 });
      // The synchronous path applies on_store_error the same way.
      expect(rs.tryAcquireSync("open")).toMatchObject({ allowed: true, degraded: "store-error" });
      expect(store.stats()).toMatchObject({ calls: 4, errors: 3, breaker: "open" });
      // Open: failing fast, without waiting for the lock.
      await expect(store.decide([op("k")], 0)).rejects.toThrow(/circuit breaker is open/);

      lock.release();
      now += 1000; // the cool-down passes: the next call is the probe, and it succeeds
      expect((await rs.tryAcquire("closed")).allowed).toBe(true);
      expect(store.stats().breaker).toBe("closed");
      await rs.close();
    } finally {
      lock.release();
      await store.close();
    }
  });

  it("waits for a lock released within busy_timeout instead of failing", async () => {
    const config = freshConfig({ busyTimeoutMs: 10_000 });
    const store = new SqliteStore(config, { sweepIntervalMs: 0 });
    store.open();
    // A second process holds the lock briefly.
    const script =
      `const D = require(${JSON.stringify(require.resolve("better-sqlite3"))});` +
      `const db = new D(${JSON.stringify(config.path)}); db.exec("BEGIN IMMEDIATE"); process.stdout.write("held");` +
      `setTimeout(() => { db.exec("COMMIT"); db.close(); }, 200);`;
    const holder = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) => holder.stdout.once("data", () => resolve()));
    expect(store.decideNow([op("k")], 0).allowed).toBe(true);
    expect(store.stats().errors).toBe(0);
    await new Promise((resolve) => holder.once("exit", resolve));
    await store.close();
  });
});

describe("SQLite store: opening the file", () => {
  it("names the file it cannot open", async () => {
    const path = join(databases.dir, "no-such-directory", "rates.db");
    const store = new SqliteStore({ ...freshConfig(), path }, { sweepIntervalMs: 0 });
    expect(() => store.decideNow([op("k")], 0)).toThrow(StoreError);
    expect(() => store.decideNow([op("k")], 0)).toThrow(
      /cannot open the SQLite database ".*no-such-directory.*rates\.db"/,
    );
    await store.close();
  });

  it("refuses calls once closed", async () => {
    const store = new SqliteStore(freshConfig(), { sweepIntervalMs: 0 });
    store.decideNow([op("k")], 0);
    await store.close();
    await store.close(); // idempotent
    await expect(store.decide([op("k")], 0)).rejects.toThrow(/the store is closed/);
  });
});

describe('engine = "sqlite" in the config', () => {
  it("loads with its defaults and its own keys", () => {
    const snapshot = parseConfigText(
      `[stores.local]\nengine = "sqlite"\npath = "/var/lib/app/rate-sync.db"\n\n` +
        `[stores.tuned]\nengine = "sqlite"\npath = "rates.db"\ntable_name = "limits"\nbusy_timeout = "250ms"\n\n` +
        `[limiters.api]\nstore = "local"\nrate = "10/s"\n`,
    );
    expect(snapshot.stores.get("local")).toEqual({
      id: "local",
      engine: "sqlite",
      path: "/var/lib/app/rate-sync.db",
      tableName: "rate_sync_state",
      busyTimeoutMs: 1000,
    });
    expect(snapshot.stores.get("tuned")).toMatchObject({ tableName: "limits", busyTimeoutMs: 250 });
  });

  it("names what is wrong: a missing path, a key of another engine", () => {
    let error: unknown;
    try {
      parseConfigText(`[stores.local]\nengine = "sqlite"\nurl = "postgres://x/y"\n`);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toMatch(/stores\.local\.path/);
    expect(message).toMatch(/"url" is not a key of a sqlite store \(it applies to .*postgres stores\)/);
  });

  it("tryAcquireSync decides on a SQLite store, composites with a memory store included", async () => {
    const path = freshConfig().path;
    const rs = RateSync.fromConfig({
      stores: { local: { engine: "sqlite", path }, mem: { engine: "memory" } },
      limiters: {
        api: { store: "local", algorithm: "fixed_window", limit: 2, window: "1h" },
        slots: { store: "local", max_concurrent: 1 },
        inproc: { store: "mem", algorithm: "fixed_window", limit: 1, window: "1h" },
      },
    });
    expect(rs.tryAcquireSync("api").allowed).toBe(true);
    const held = rs.tryAcquireSync("slots");
    expect(held.allowed).toBe(true);
    expect(rs.tryAcquireSync("slots").allowed).toBe(false);
    await held.lease?.release();
    expect(rs.tryAcquireSync("slots").allowed).toBe(true);
    // The memory member allows, the SQLite member is then spent; a second composite is denied and gives back
    // what the memory member took.
    expect(rs.tryAcquireSync(["api", "inproc"]).allowed).toBe(true);
    expect(rs.tryAcquireSync(["api", "inproc"]).allowed).toBe(false);
    expect((await rs.peek("api")).remaining).toBe(0);
    expect((await rs.peek("inproc")).remaining).toBe(0);
    await rs.close();

    // Another instance on the same file (another process, a restart) sees the same usage.
    const again = RateSync.fromConfig({
      stores: { local: { engine: "sqlite", path } },
      limiters: { api: { algorithm: "fixed_window", limit: 2, window: "1h" } },
    });
    expect(again.tryAcquireSync("api").allowed).toBe(false);
    await again.close();
  });

  it("tryAcquireSync with a member on a store that cannot answer touches the SQLite member not at all", async () => {
    const path = freshConfig().path;
    // A Redis store that is never reached: without a cached denial it cannot answer synchronously.
    const redis = new RedisStore(
      {
        id: "remote",
        engine: "redis",
        url: "redis://127.0.0.1:1",
        keyPrefix: "never_used",
        cluster: false,
        poolMaxSize: 1,
        timeoutMs: 1000,
      },
      { importDriver: () => Promise.reject(new Error("never loaded")) },
    );
    const rs = RateSync.fromConfig(
      {
        stores: {
          local: { engine: "sqlite", path },
          remote: { engine: "redis", url: "redis://127.0.0.1:1" },
        },
        limiters: {
          api: { store: "local", algorithm: "fixed_window", limit: 2, window: "1h" },
          far: { store: "remote", algorithm: "fixed_window", limit: 2, window: "1h" },
        },
      },
      { stores: { remote: redis }, quiet: true },
    );
    // The SQLite member comes first in the call; it is still asked only after the Redis member could not answer.
    expect(() => rs.tryAcquireSync(["api", "far"])).toThrow(SyncUnavailableError);
    expect((await rs.peek("api")).remaining).toBe(2);
    const sqlite = rs.metrics().stores.local as { calls: number };
    // Only the peek reached the file.
    expect(sqlite.calls).toBe(1);
    await rs.close();
  });
});
