import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RateSync, StoreError, type StoreErrorEvent } from "../../src/index.ts";
import { requireRedis, uniqueName } from "../helpers/stores.ts";
import { TcpProxy } from "../helpers/tcp-proxy.ts";

const redis = await requireRedis();

/** Polls `check` until it holds (bounded), for recovery that happens by itself. */
async function eventually(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("condition not reached in time");
}

describe.skipIf(!redis.available)(
  "on_store_error through a real Redis behind a faulty link (SPEC §5)",
  () => {
    let proxy: TcpProxy;
    let rs: RateSync;
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    const events: StoreErrorEvent[] = [];

    beforeAll(async () => {
      process.on("unhandledRejection", onUnhandled);
      const target = new URL(redis.url);
      proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 6379) });
      rs = RateSync.fromToml(
        `
[stores.shared]
engine = "redis"
url = "redis://127.0.0.1:${proxy.port}"
key_prefix = "${uniqueName("policy")}"
timeout = "300ms"

[limiters.open]
rate = "1/h"
burst = 1
on_store_error = "allow"

[limiters.closed]
rate = "1/h"
burst = 1
on_store_error = "deny"

[limiters.python_closed]          # rate-sync (Python) spelling of deny
rate_per_second = 0.001
fail_closed = true

[limiters.fallback]
rate = "1/h"
burst = 1
on_store_error = "local"
`,
        { env: {} },
      );
      rs.on("storeError", (event) => events.push(event));
    });

    afterAll(async () => {
      await rs?.close();
      await proxy?.close();
      process.off("unhandledRejection", onUnhandled);
    });

    it("decides on the store while it is healthy", async () => {
      for (const id of ["open", "closed", "python_closed", "fallback"]) {
        const first = await rs.tryAcquire(id);
        expect(first.allowed, id).toBe(true);
        expect(first.degraded, id).toBeUndefined();
        expect((await rs.tryAcquire(id)).allowed, id).toBe(false);
      }
    });

    it("follows each limiter's policy while the store is down, within the store timeout", async () => {
      proxy.cut();
      const started = performance.now();
      // Fresh keys (rate-sync style clones `id:rest`): the exhausted ones above would be answered by the local
      // over-limit cache, which rightly keeps denying them without asking the store.
      const [open, closed, pythonClosed, fallback] = await Promise.all(
        ["open", "closed", "python_closed", "fallback"].map((id) => rs.tryAcquire(`${id}:outage`)),
      );
      expect(performance.now() - started).toBeLessThan(2000);
      expect(open).toMatchObject({ allowed: true, degraded: "store-error" });
      expect(closed).toMatchObject({ allowed: false, degraded: "store-error" });
      expect(pythonClosed).toMatchObject({ allowed: false, degraded: "store-error" });
      // The local stand-in enforces the same limit in-process: one call, then denied.
      expect(fallback).toMatchObject({ allowed: true, degraded: "local" });
      expect(await rs.tryAcquire("fallback:outage")).toMatchObject({ allowed: false, degraded: "local" });
      // acquire() under deny rejects with the store error itself (an HTTP layer answers 503).
      await expect(rs.acquire("closed:outage", { timeout: "1s" })).rejects.toBeInstanceOf(StoreError);
      expect(events.some((e) => e.limiter === "closed" && e.store === "shared")).toBe(true);
      expect(events.every((e) => e.error instanceof Error)).toBe(true);
      const metrics = rs.metrics().limiters;
      expect(metrics.open!.storeErrors).toBeGreaterThan(0);
      expect(metrics.open!.degraded).toBeGreaterThan(0);
    });

    it("recovers by itself once the store is back", async () => {
      proxy.restore();
      await eventually(async () => (await rs.tryAcquire("open:after")).degraded === undefined);
      // State kept on the store through the outage: still exhausted, decided by Redis again.
      const closed = await rs.tryAcquire("closed");
      expect(closed.degraded).toBeUndefined();
      expect(closed.allowed).toBe(false);
      expect(unhandled).toEqual([]);
    });
  },
);
