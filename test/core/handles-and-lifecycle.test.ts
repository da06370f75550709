import { describe, expect, it } from "vitest";
import { ClosedError, RateSync, UnknownLimiterError } from "../../src/index.ts";

const config = {
  limiters: {
    "api:<tenant>": { rate: "10/min", burst: 2 },
    login: { algorithm: "sliding_window", limit: 3, window: "5m" },
    upload: { max_concurrent: 4 },
  },
};

describe("limiter handles, remove and close (SPEC §4)", () => {
  it("binds every method of a handle to its key", async () => {
    const rs = RateSync.fromConfig(config);
    const acme = rs.limiter("api:acme");
    expect(acme.key).toBe("api:acme");
    expect((await acme.tryAcquire()).allowed).toBe(true);
    await (await acme.acquire({ timeout: 0 })).release();
    expect((await acme.peek()).remaining).toBe(0);
    await acme.reset();
    expect(await acme.run(() => "ran")).toBe("ran");
    expect((await rs.peek("api:acme")).remaining).toBe(1);
    expect(() => rs.limiter("nothing")).toThrow(UnknownLimiterError);
    await rs.close();
  });

  it("reports each algorithm's draft-10 policy on its decisions", async () => {
    const rs = RateSync.fromConfig(config);
    // Token bucket: quota = burst, window = ceil(burst / rate per second) = ceil(2 / (10/60)) = 12 s.
    expect((await rs.tryAcquire("api:a")).policy).toEqual({
      name: "api:<tenant>",
      quota: 2,
      windowSeconds: 12,
    });
    expect((await rs.tryAcquire("login")).policy).toEqual({ name: "login", quota: 3, windowSeconds: 300 });
    const slot = await rs.tryAcquire("upload");
    expect(slot.policy).toEqual({ name: "upload", quota: 4 });
    await slot.lease?.release();
    await rs.close();
  });

  it("removes a limiter: its keys answer UnknownLimiterError", async () => {
    const rs = RateSync.fromConfig(config);
    await rs.tryAcquire("login");
    rs.remove("login");
    expect(rs.limiterIds()).toEqual(["api:<tenant>", "upload"]);
    await expect(rs.tryAcquire("login")).rejects.toBeInstanceOf(UnknownLimiterError);
    await rs.close();
  });

  it("closes once (also through `await using`) and refuses calls afterwards with ClosedError", async () => {
    let closed: RateSync;
    {
      await using rs = RateSync.fromConfig(config);
      closed = rs;
      expect((await rs.tryAcquire("login")).allowed).toBe(true);
    }
    await closed.close();
    await expect(closed.tryAcquire("login")).rejects.toBeInstanceOf(ClosedError);
    await expect(closed.acquire("login")).rejects.toBeInstanceOf(ClosedError);
    await expect(closed.peek("login")).rejects.toBeInstanceOf(ClosedError);
  });
});
