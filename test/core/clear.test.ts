/**
 * `rs.clear(id)` and `rs.keyCount(id)` through the facade, on every store: memory, a real Redis, a real
 * PostgreSQL and a SQLite file. Which keys a clear covers (a template's clones, a plain limiter's `base:rest` clones, an exact id's
 * one key, never a neighbour), the local state that must forget them (the over-limit cache, waiters in
 * `acquire`), and the errors of ids that are keys or unknown.
 */

import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  InvalidArgumentError,
  RateSync,
  SyncUnavailableError,
  UnknownLimiterError,
} from "../../src/index.ts";
import { type Backend, facadeBackends } from "../helpers/facade-backends.ts";

const backends = await facadeBackends("clear");

const HOUR_WINDOW = { algorithm: "fixed_window", limit: 1, window: "1h" };

/** An instance on the backend's store with the limiters every test here uses. */
function instance(backend: Backend): RateSync {
  return RateSync.fromConfig(
    {
      stores: { main: backend.store },
      limiters: {
        "api:<userId>": HOUR_WINDOW,
        "apix:<id>": HOUR_WINDOW,
        "api:vip": HOUR_WINDOW,
        login: HOUR_WINDOW,
        upload: { max_concurrent: 1, lease: "1h" },
      },
    },
    { quiet: true },
  );
}

describe.each(backends)("clear on the $name store", (backend) => {
  afterEach(() => backend.empty());
  afterAll(() => backend.cleanup());

  it("clear of a template forgets every clone's state, and no neighbour's", async () => {
    const rs = instance(backend);
    try {
      for (const key of ["api:42", "api:7", "apix:1", "api:vip"]) {
        expect((await rs.tryAcquire(key)).allowed).toBe(true);
        expect((await rs.tryAcquire(key)).allowed).toBe(false);
      }
      const counted = await rs.keyCount("api:<userId>");
      if (backend.name === "redis") expect(counted).toBeUndefined();
      else expect(counted).toBe(2);

      expect(await rs.clear("api:<userId>")).toBe(2);

      expect((await rs.tryAcquire("api:42")).allowed).toBe(true);
      expect((await rs.tryAcquire("api:7")).allowed).toBe(true);
      expect((await rs.tryAcquire("apix:1")).allowed).toBe(false);
      expect((await rs.tryAcquire("api:vip")).allowed).toBe(false);
      if (backend.name !== "redis") expect(await rs.keyCount("apix:<id>")).toBe(1);
    } finally {
      await rs.close();
    }
  });

  it("clear of a plain limiter covers its own key and its base:rest clones; an exact id covers one key", async () => {
    const rs = instance(backend);
    try {
      for (const key of ["login", "login:bob", "api:vip", "api:8"]) {
        expect((await rs.tryAcquire(key)).allowed).toBe(true);
      }
      expect(await rs.clear("login")).toBe(2);
      expect((await rs.tryAcquire("login")).allowed).toBe(true);
      expect((await rs.tryAcquire("login:bob")).allowed).toBe(true);

      expect(await rs.clear("api:vip")).toBe(1);
      expect((await rs.tryAcquire("api:vip")).allowed).toBe(true);
      expect((await rs.tryAcquire("api:8")).allowed).toBe(false);
    } finally {
      await rs.close();
    }
  });

  it("clear frees concurrency slots held under the limiter", async () => {
    const rs = instance(backend);
    try {
      const held = await rs.tryAcquire("upload");
      expect(held.allowed).toBe(true);
      expect((await rs.tryAcquire("upload")).allowed).toBe(false);
      expect(await rs.clear("upload")).toBe(1);
      const next = await rs.tryAcquire("upload");
      expect(next.allowed).toBe(true);
      // The first holder's release is still harmless (its lease is gone) and frees nothing of the new one.
      await held.lease?.release();
      expect((await rs.tryAcquire("upload")).allowed).toBe(false);
      await next.lease?.release();
    } finally {
      await rs.close();
    }
  });

  it("a waiter in acquire() on a cleared key gets its turn at once, not at the window's end", async () => {
    const rs = instance(backend);
    try {
      expect((await rs.tryAcquire("api:w")).allowed).toBe(true);
      // No timeout: without the clear this waits for the hour-long window to end (the test would time out).
      const waiting = rs.acquire("api:w", { timeout: null });
      // Let it reach its sleep on the retry hint.
      await new Promise((resolve) => setTimeout(resolve, 50));
      await rs.clear("api:<userId>");
      const lease = await waiting;
      expect(lease.decision.allowed).toBe(true);
    } finally {
      await rs.close();
    }
  });

  it("ids that are keys, unknown ids and non-strings are refused with the id to use", async () => {
    const rs = instance(backend);
    try {
      await expect(rs.clear("api:42")).rejects.toThrow(InvalidArgumentError);
      await expect(rs.clear("api:42")).rejects.toThrow(
        'clear("api:42"): that is a key of limiter "api:<userId>", not a limiter id; clear("api:<userId>") covers every key of that limiter, reset("api:42") forgets this key only',
      );
      await expect(rs.keyCount("login:bob")).rejects.toThrow(/keyCount\("login"\) covers every key/);
      await expect(rs.clear("nope")).rejects.toThrow(UnknownLimiterError);
      await expect(rs.clear("" as string)).rejects.toThrow(/non-empty string/);
      await expect(rs.clear(42 as unknown as string)).rejects.toThrow(/non-empty string, got 42/);
    } finally {
      await rs.close();
    }
  });
});

// The stores with an over-limit cache: the remote ones (memory and SQLite decide every call in process).
describe.each(backends.filter((b) => b.name === "redis" || b.name === "postgres"))(
  "the over-limit cache of the $name store",
  (backend) => {
    afterAll(() => backend.cleanup());

    it("forgets the cleared keys' denials: the next call goes to the store and is allowed", async () => {
      const rs = instance(backend);
      try {
        expect((await rs.tryAcquire("api:c")).allowed).toBe(true);
        const denied = await rs.tryAcquire("api:c");
        expect(denied.allowed).toBe(false);
        // The denial is cached now: it is answered without a promise.
        expect(rs.tryAcquireSync("api:c").allowed).toBe(false);
        await rs.clear("api:<userId>");
        // Nothing cached any more: no synchronous answer, and the store allows.
        expect(() => rs.tryAcquireSync("api:c")).toThrow(SyncUnavailableError);
        expect((await rs.tryAcquire("api:c")).allowed).toBe(true);
      } finally {
        await rs.close();
      }
    });
  },
);
