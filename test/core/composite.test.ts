import { describe, expect, it } from "vitest";
import { MemoryStore, RateSync } from "../../src/index.ts";

describe("composite decisions (SPEC §7)", () => {
  const config = {
    limiters: {
      "login:ip:<ip>": { algorithm: "fixed_window", limit: 3, window: "1h" },
      "login:user:<user>": { algorithm: "fixed_window", limit: 2, window: "1h" },
    },
  };

  it("allows only when every key passes and consumes nothing otherwise", async () => {
    const rs = RateSync.fromConfig(config);
    const keys = ["login:ip:1.2.3.4", "login:user:bob"];
    const first = await rs.tryAcquire(keys);
    expect(first.allowed).toBe(true);
    expect(first.results?.map((r) => r.allowed)).toEqual([true, true]);
    // The most constraining member (user: 1 of 2 left) speaks for the composite.
    expect(first.limiter).toBe("login:user:<user>");
    expect(first.remaining).toBe(1);
    await rs.tryAcquire(keys);
    const third = await rs.tryAcquire(keys);
    expect(third.allowed).toBe(false);
    expect(third.limiter).toBe("login:user:<user>");
    expect(third.retryAfterMs).toBeGreaterThan(0);
    // The IP member passed but was not applied: 1 of 3 still left for this IP, and its own result says so.
    expect(third.results?.[0]).toMatchObject({ allowed: true, remaining: 1 });
    expect((await rs.peek("login:ip:1.2.3.4")).remaining).toBe(1);
    await rs.close();
  });

  it("refunds members on another store when a later member denies", async () => {
    const storeA = new MemoryStore({ id: "a" });
    const storeB = new MemoryStore({ id: "b" });
    const rs = RateSync.fromConfig(
      {
        stores: { a: { engine: "memory" }, b: { engine: "memory" } },
        limiters: {
          wide: { store: "a", algorithm: "sliding_window", limit: 10, window: "1h" },
          narrow: { store: "b", rate: "1/h", burst: 1 },
        },
      },
      { stores: { a: storeA, b: storeB } },
    );
    expect((await rs.tryAcquire(["wide", "narrow"])).allowed).toBe(true);
    const denied = await rs.tryAcquire(["wide", "narrow"]);
    expect(denied.allowed).toBe(false);
    expect(denied.limiter).toBe("narrow");
    // Only the first, allowed call is counted on the other store.
    expect((await rs.peek("wide")).remaining).toBe(9);
    await rs.close();
  });

  it("never lets a shadow member block the others", async () => {
    const rs = RateSync.fromConfig({
      limiters: {
        real: { rate: "10/h", burst: 10 },
        dry: { rate: "1/h", burst: 1, shadow: true },
      },
    });
    await rs.tryAcquire(["real", "dry"]);
    const second = await rs.tryAcquire(["real", "dry"]);
    expect(second.allowed).toBe(true);
    expect(second.degraded).toBe("shadow");
    expect(second.results?.[1]?.degraded).toBe("shadow");
    expect((await rs.peek("real")).remaining).toBe(8);
    expect(rs.metrics().limiters.dry!.shadowDenied).toBe(1);
    await rs.close();
  });
});

describe("a refused composite names its real cause", () => {
  it("reports a healthy limit's denial, not a failed store's, so HTTP answers 429 rather than 503", async () => {
    const rs = RateSync.fromConfig({
      stores: {
        local: { engine: "memory" },
        // Nothing listens on port 1: every call fails fast with a connection error.
        down: { engine: "redis", url: "redis://127.0.0.1:1", timeout: "200ms" },
      },
      limiters: {
        strict: { store: "local", algorithm: "fixed_window", limit: 1, window: "1h" },
        lenient: { store: "down", rate: "100/s", on_store_error: "allow" },
        closed: { store: "down", rate: "100/s", on_store_error: "deny" },
      },
    });
    await rs.tryAcquire("strict");
    const refused = await rs.tryAcquire(["lenient", "strict"]);
    expect(refused.allowed).toBe(false);
    expect(refused.limiter).toBe("strict");
    expect(refused.degraded).toBeUndefined();
    expect(refused.results?.[0]?.degraded).toBe("store-error");
    // Refused only because a store failed under "deny": the composite says so.
    const storeDown = await rs.tryAcquire(["closed", "lenient"]);
    expect(storeDown).toMatchObject({ allowed: false, limiter: "closed", degraded: "store-error" });
    await rs.close();
  });
});
