/**
 * `tryAcquireSync` on in-process stores: the same decision as `tryAcquire` (fields, composites, shadow mode,
 * leases, `on_store_error`), the same events and counters, errors thrown rather than rejected, and a clear
 * refusal (nothing consumed) when a store cannot answer without I/O.
 */

import { describe, expect, it } from "vitest";
import {
  ClosedError,
  type Decision,
  isSyncUnavailableError,
  MemoryStore,
  RateSync,
  type Store,
  SyncUnavailableError,
} from "../../src/index.ts";

const LIMITERS = {
  fw: { algorithm: "fixed_window", limit: 2, window: "1m", store: "s" },
  tb: { rate: "10/s", burst: 3, store: "s" },
  sw: { algorithm: "sliding_window", limit: 2, window: "1m", store: "s" },
  swc: { algorithm: "sliding_window_counter", limit: 2, window: "1m", store: "s" },
  lb: { algorithm: "leaky_bucket", rate: "2/s", store: "s" },
  cc: { max_concurrent: 1, store: "s" },
  both: { rate: "1/s", burst: 2, max_concurrent: 1, store: "s" },
  dry: { algorithm: "fixed_window", limit: 1, window: "1m", shadow: true, store: "s" },
  "user:<id>": { algorithm: "fixed_window", limit: 1, window: "1m", store: "s" },
  "other:<id>": { algorithm: "fixed_window", limit: 3, window: "1m", store: "t" },
};

/** An instance on two memory stores that share one frozen clock (`clock.t`), so two instances decide alike. */
function instance(clock: { t: number }, onStoreError = "allow") {
  const s = new MemoryStore({ id: "s", now: () => clock.t });
  const t = new MemoryStore({ id: "t", now: () => clock.t });
  const limiters = Object.fromEntries(
    Object.entries(LIMITERS).map(([id, def]) => [id, { ...def, on_store_error: onStoreError }]),
  );
  const rs = RateSync.fromConfig(
    { stores: { s: { engine: "memory" }, t: { engine: "memory" } }, limiters },
    { stores: { s, t }, quiet: true },
  );
  return { rs, s, t };
}

/** A decision without its lease (a lease is an object with methods, unique to its call). */
function plain(decision: Decision): Omit<Decision, "lease"> {
  const { lease: _, ...rest } = decision;
  return rest;
}

const CALLS: readonly (string | string[])[] = [
  "fw",
  "fw",
  "fw",
  "tb",
  "tb",
  "tb",
  "tb",
  "sw",
  "sw",
  "sw",
  "swc",
  "swc",
  "swc",
  "lb",
  "lb",
  "lb",
  "cc",
  "cc",
  "both",
  "both",
  "dry",
  "dry",
  "dry",
  "user:1",
  "user:1",
  ["user:2", "other:2"],
  ["user:2", "other:2"],
  ["other:3", "user:3"],
  ["user:3", "other:3"],
  ["fw", "dry"],
  ["dry", "user:4"],
  ["user:4", "user:4"],
];

describe("tryAcquireSync on memory stores", () => {
  it("decides every algorithm, composite and shadow member exactly as tryAcquire, with the same counters", async () => {
    const clock = { t: 1_700_000_000_000 };
    const sync = instance(clock);
    const async = instance(clock);
    const events: { sync: Decision[]; async: Decision[] } = { sync: [], async: [] };
    sync.rs.on("decision", (d) => events.sync.push(d));
    async.rs.on("decision", (d) => events.async.push(d));
    let denied = 0;
    for (const [i, key] of CALLS.entries()) {
      clock.t += i % 3;
      const now = sync.rs.tryAcquireSync(key);
      const later = await async.rs.tryAcquire(key);
      expect(plain(now), JSON.stringify(key)).toEqual(plain(later));
      expect(now.lease === undefined).toBe(later.lease === undefined);
      if (!now.allowed) denied++;
    }
    expect(denied).toBeGreaterThan(5);
    expect(events.sync).toEqual(events.async);
    expect(sync.rs.metrics().limiters).toEqual(async.rs.metrics().limiters);
    expect(sync.rs.metrics().limiters.dry?.shadowDenied).toBeGreaterThan(0);
    // The stores hold the same state: a peek of each key reads the same.
    for (const key of ["fw", "tb", "sw", "swc", "lb", "cc", "both", "dry", "user:2", "other:2", "user:4"]) {
      expect(await sync.rs.peek(key), key).toEqual(await async.rs.peek(key));
    }
    await Promise.all([sync.rs.close(), async.rs.close()]);
  });

  it("returns a plain value, never a promise, and its lease releases the slot", async () => {
    const { rs } = instance({ t: 1_700_000_000_000 });
    const first = rs.tryAcquireSync("cc");
    expect(first).not.toBeInstanceOf(Promise);
    expect(first.allowed).toBe(true);
    expect(rs.tryAcquireSync("cc").allowed).toBe(false);
    await first.lease!.release();
    expect(rs.tryAcquireSync("cc").allowed).toBe(true);
    await rs.close();
  });

  it("a denied composite consumes nothing on any store", async () => {
    const { rs } = instance({ t: 1_700_000_000_000 });
    expect(rs.tryAcquireSync("user:9").allowed).toBe(true);
    // other:9 (store t) passes, user:9 (store s) denies: other:9 keeps its 3 units.
    const refused = rs.tryAcquireSync(["other:9", "user:9"]);
    expect(refused.allowed).toBe(false);
    expect(refused.limiter).toBe("user:<id>");
    expect(refused.results?.[0]).toMatchObject({ allowed: true, remaining: 3 });
    expect((await rs.peek("other:9")).remaining).toBe(3);
    await rs.close();
  });

  it("is on the handle of rs.limiter(key)", async () => {
    const { rs } = instance({ t: 1_700_000_000_000 });
    const handle = rs.limiter("user:7");
    expect(handle.tryAcquireSync().allowed).toBe(true);
    expect(handle.tryAcquireSync()).toMatchObject({ allowed: false, key: "user:7", limiter: "user:<id>" });
    expect(handle.tryAcquireSync({ cost: 1 }).allowed).toBe(false);
    await rs.close();
  });

  it("applies on_store_error as tryAcquire does when the store fails", async () => {
    for (const policy of ["allow", "deny", "local"]) {
      const clock = { t: 1_700_000_000_000 };
      const sync = instance(clock, policy);
      const async = instance(clock, policy);
      await Promise.all([sync.s.close(), async.s.close()]);
      const errors: string[] = [];
      sync.rs.on("storeError", (e) => errors.push(e.store));
      async.rs.on("storeError", () => {});
      for (const key of ["fw", "fw", "fw", ["user:1", "other:1"]]) {
        const now = sync.rs.tryAcquireSync(key);
        const later = await async.rs.tryAcquire(key);
        // The local stand-in reads the real clock: its times differ by the microseconds between the calls.
        const untimed = (d: Decision) =>
          policy === "local" ? JSON.stringify(plain(d), (k, v) => (k.endsWith("Ms") ? 0 : v)) : plain(d);
        expect(untimed(now), policy).toEqual(untimed(later));
        expect(now.degraded, policy).toBe(policy === "local" ? "local" : "store-error");
      }
      expect(errors).toEqual(["s", "s", "s", "s"]);
      expect(sync.rs.metrics().limiters).toEqual(async.rs.metrics().limiters);
      await Promise.all([sync.rs.close(), async.rs.close()]);
    }
  });

  it("throws ClosedError on a closed instance", async () => {
    const { rs } = instance({ t: 1_700_000_000_000 });
    await rs.close();
    expect(() => rs.tryAcquireSync("fw")).toThrow(ClosedError);
  });
});

describe("tryAcquireSync on a store that cannot answer without I/O", () => {
  /** A store answering only through promises (no `decideNow`), counting what it applies. */
  function asyncOnly(id: string): Store & { decided: number } {
    const inner = new MemoryStore({ id });
    return {
      id,
      engine: "redis",
      decided: 0,
      decide(ops, maxWaitMs) {
        this.decided++;
        return inner.decide(ops, maxWaitMs);
      },
      peek: (op) => inner.peek(op),
      refund: (ops) => inner.refund(ops),
      charge: (ops) => inner.charge(ops),
      reset: (limiterId, key) => inner.reset(limiterId, key),
      release: (limiterId, key, leaseId) => inner.release(limiterId, key, leaseId),
      renew: (limiterId, key, leaseId, leaseMs) => inner.renew(limiterId, key, leaseId, leaseMs),
      close: () => inner.close(),
    };
  }

  it("throws SyncUnavailableError naming the store, and nothing is consumed, alone or in a composite", async () => {
    const remote = asyncOnly("main");
    const rs = RateSync.fromConfig(
      {
        stores: { main: { engine: "memory" }, s: { engine: "memory" } },
        limiters: {
          far: { algorithm: "fixed_window", limit: 2, window: "1m", store: "main" },
          near: { algorithm: "fixed_window", limit: 2, window: "1m", store: "s" },
        },
      },
      { stores: { main: remote }, quiet: true },
    );
    let thrown: unknown;
    try {
      rs.tryAcquireSync("far");
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SyncUnavailableError);
    expect(isSyncUnavailableError(thrown)).toBe(true);
    expect(thrown).toMatchObject({ code: "SYNC_UNAVAILABLE", store: "main", engine: "redis" });
    expect((thrown as Error).message).toBe(
      'Store "main" (redis) cannot decide synchronously; use tryAcquire',
    );
    // A composite with a member that can answer: that member consumes nothing either, in either order.
    expect(() => rs.tryAcquireSync(["near", "far"])).toThrow(SyncUnavailableError);
    expect(() => rs.tryAcquireSync(["far", "near"])).toThrow(SyncUnavailableError);
    expect(remote.decided).toBe(0);
    expect((await rs.peek("near")).remaining).toBe(2);
    expect((await rs.peek("far")).remaining).toBe(2);
    expect(rs.metrics().limiters.near).toMatchObject({ allowed: 0, denied: 0 });
    // tryAcquire decides the same calls.
    expect((await rs.tryAcquire(["near", "far"])).allowed).toBe(true);
    await rs.close();
  });
});
