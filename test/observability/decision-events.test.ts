import { afterEach, describe, expect, it, vi } from "vitest";
import { TypedEmitter } from "../../src/core/events.ts";
import { type Decision, RateSync } from "../../src/index.ts";

function rsWith(): RateSync {
  return RateSync.fromConfig({
    stores: { m: { engine: "memory" } },
    limiters: {
      api: { store: "m", algorithm: "fixed_window", limit: 2, window: "1h" },
      ip: { store: "m", algorithm: "fixed_window", limit: 1, window: "1h" },
      user: { store: "m", algorithm: "fixed_window", limit: 5, window: "1h" },
      dry: { store: "m", algorithm: "fixed_window", limit: 1, window: "1h", shadow: true },
      bucket: { store: "m", rate: "20/s", burst: 1 },
    },
  });
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("decision events", () => {
  it("carry the Decision the caller got, once per call", async () => {
    const rs = rsWith();
    const seen: Decision[] = [];
    rs.on("decision", (d) => seen.push(d));
    const results = [await rs.tryAcquire("api"), await rs.tryAcquire("api"), await rs.tryAcquire("api")];
    expect(seen).toHaveLength(3);
    for (let i = 0; i < 3; i++) expect(seen[i]).toBe(results[i]);
    expect(seen.map((d) => d.allowed)).toEqual([true, true, false]);
    expect(seen[2]).toMatchObject({ key: "api", limiter: "api", limit: 2, remaining: 0 });
    expect(seen[2]!.retryAfterMs).toBeGreaterThan(0);
    await rs.close();
  });

  it("fire once per member of a composite, with each member's own decision", async () => {
    const rs = rsWith();
    const seen: Decision[] = [];
    rs.on("decision", (d) => seen.push(d));
    const first = await rs.tryAcquire(["ip", "user"]);
    expect(seen).toHaveLength(2);
    expect(seen).toEqual(first.results);
    expect(seen[0]).toBe(first.results?.[0]);
    expect(seen[1]).toBe(first.results?.[1]);

    seen.length = 0;
    const second = await rs.tryAcquire(["ip", "user"]);
    expect(second.allowed).toBe(false);
    expect(seen.map((d) => [d.limiter, d.allowed])).toEqual([
      ["ip", false],
      ["user", true],
    ]);
    await rs.close();
  });

  it("report shadow and reserved waits as what they are", async () => {
    const rs = rsWith();
    const seen: Decision[] = [];
    rs.on("decision", (d) => seen.push(d));
    await rs.tryAcquire("dry");
    await rs.tryAcquire("dry");
    expect(seen.map((d) => [d.allowed, d.degraded])).toEqual([
      [true, undefined],
      [true, "shadow"],
    ]);

    seen.length = 0;
    await rs.acquire("bucket");
    const waited = await rs.acquire("bucket", { timeout: "5s" });
    // A reservation is decided once: one event, the decision the lease carries.
    expect(seen).toHaveLength(2);
    expect(seen[1]).toBe(waited.decision);
    await rs.close();
  });

  it("are not emitted, nor anything built for them, when nobody listens", async () => {
    const emit = vi.spyOn(TypedEmitter.prototype, "emit");
    const hasListeners = vi.spyOn(TypedEmitter.prototype, "hasListeners");
    const rs = rsWith();
    await rs.tryAcquire("api");
    await rs.tryAcquire(["ip", "user"]);
    expect(emit.mock.calls.filter(([event]) => event === "decision")).toEqual([]);
    // The engine asked, and was told nobody listens.
    expect(hasListeners).toHaveBeenCalledWith("decision");
    expect(hasListeners.mock.results.every((r) => r.value === false)).toBe(true);

    // Listening, then not: back to no emission at all.
    const off = rs.on("decision", () => {});
    await rs.tryAcquire("api");
    expect(emit.mock.calls.filter(([event]) => event === "decision")).toHaveLength(1);
    off();
    emit.mockClear();
    await rs.tryAcquire("api");
    expect(emit.mock.calls.filter(([event]) => event === "decision")).toEqual([]);
    await rs.close();
  });

  it("never let a throwing listener break a decision", async () => {
    const rs = rsWith();
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    try {
      rs.on("decision", () => {
        throw new Error("listener bug");
      });
      const decision = await rs.tryAcquire("api");
      expect(decision.allowed).toBe(true);
      expect(rs.metrics().limiters.api?.allowed).toBe(1);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.some((w) => w.message === "listener bug")).toBe(true);
    } finally {
      process.off("warning", onWarning);
      await rs.close();
    }
  });
});
