import { describe, expect, it } from "vitest";
import { InvalidArgumentError, InvalidKeyError, RateSync, UnknownLimiterError } from "../../src/index.ts";

function rsWith(limiters: Record<string, Record<string, unknown>>, defaults: Record<string, unknown> = {}) {
  return RateSync.fromConfig({ defaults, limiters });
}

describe("key resolution (SPEC §3)", () => {
  it("prefers an exact id, then the most literal template, then base:rest", async () => {
    const rs = rsWith({
      api: { rate: "1/s", burst: 1 },
      "api:<tenant>": { rate: "2/s", burst: 2 },
      "api:premium:<tenant>": { rate: "3/s", burst: 3 },
      "api:42": { rate: "4/s", burst: 4 },
      login: { algorithm: "fixed_window", limit: 5, window: "1m" },
    });
    expect((await rs.tryAcquire("api")).limiter).toBe("api");
    expect((await rs.tryAcquire("api:42")).limiter).toBe("api:42");
    expect((await rs.tryAcquire("api:acme")).limiter).toBe("api:<tenant>");
    // Both templates match; the one with more literal characters wins.
    expect((await rs.tryAcquire("api:premium:acme")).limiter).toBe("api:premium:<tenant>");
    // rate-sync compatibility: `login` is a plain limiter, so `login:bob` is a clone of it.
    const clone = await rs.tryAcquire("login:bob");
    expect(clone.limiter).toBe("login");
    expect(clone.limit).toBe(5);
    await rs.close();
  });

  it("lets only the last placeholder contain ':'", async () => {
    const rs = rsWith({ "t:<a>:<b>": { rate: "1/s" } });
    expect((await rs.tryAcquire("t:x:y:z")).limiter).toBe("t:<a>:<b>");
    await expect(rs.tryAcquire("t:x")).rejects.toBeInstanceOf(UnknownLimiterError);
    await rs.close();
  });

  it("never runs a key unlimited by accident", async () => {
    const rs = rsWith({ api: { rate: "1/s" } });
    await expect(rs.tryAcquire("other")).rejects.toBeInstanceOf(UnknownLimiterError);
    await expect(rs.tryAcquire("other:api")).rejects.toThrow(
      /No limiter or template matches the key "other:api"/,
    );
    await rs.close();
  });

  it("gives every clone its own state", async () => {
    const rs = rsWith({ "api:<tenant>": { rate: "1/min", burst: 2 } });
    expect((await rs.tryAcquire("api:a")).allowed).toBe(true);
    expect((await rs.tryAcquire("api:a")).allowed).toBe(true);
    expect((await rs.tryAcquire("api:a")).allowed).toBe(false);
    expect((await rs.tryAcquire("api:b")).allowed).toBe(true);
    expect((await rs.peek("api:b")).remaining).toBe(1);
    await rs.close();
  });

  it("accepts hostile keys as plain data and rejects keys over 1 KiB", async () => {
    const rs = rsWith({ "k:<x>": { rate: "1/min", burst: 1 } });
    const hostile = ["k:{}", "k:{a}:b", "k: spaced out ", "k:ключ🔑", "k:'; DROP TABLE x; --", "k:__proto__"];
    for (const key of hostile) {
      expect((await rs.tryAcquire(key)).allowed, key).toBe(true);
      expect((await rs.tryAcquire(key)).allowed, key).toBe(false);
    }
    const max = `k:${"x".repeat(1022)}`;
    expect(Buffer.byteLength(max)).toBe(1024);
    expect((await rs.tryAcquire(max)).allowed).toBe(true);
    await expect(rs.tryAcquire(`${max}x`)).rejects.toBeInstanceOf(InvalidKeyError);
    // Multi-byte characters count in bytes: 342 × "é" (2 bytes) + "k:" is over the limit.
    await expect(rs.tryAcquire(`k:${"é".repeat(512)}`)).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(rs.tryAcquire("")).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(rs.tryAcquire(42 as unknown as string)).rejects.toBeInstanceOf(InvalidKeyError);
    await rs.close();
  });

  it("keeps state when a clone handle is evicted from the bounded cache", async () => {
    const rs = rsWith({ "u:<id>": { rate: "1/min", burst: 1 } }, { max_clones: 4 });
    expect((await rs.tryAcquire("u:first")).allowed).toBe(true);
    for (let i = 0; i < 50; i++) await rs.tryAcquire(`u:${i}`);
    // The handle of u:first is long gone from the cache; its usage is not.
    expect((await rs.tryAcquire("u:first")).allowed).toBe(false);
    await rs.close();
  });

  it("makes clones follow their template's live config", async () => {
    const rs = rsWith({ "api:<tenant>": { algorithm: "fixed_window", limit: 2, window: "1h" } });
    await rs.tryAcquire("api:a");
    await rs.tryAcquire("api:a");
    expect((await rs.tryAcquire("api:a")).allowed).toBe(false);
    rs.dynamic("api:<tenant>").update({ limit: 3 });
    // Usage so far is kept (same algorithm and window): one more fits under the raised limit.
    const raised = await rs.tryAcquire("api:a");
    expect(raised.allowed).toBe(true);
    expect(raised.limit).toBe(3);
    expect((await rs.tryAcquire("api:a")).allowed).toBe(false);
    rs.dynamic("api:<tenant>").update({ limit: 1 });
    expect((await rs.tryAcquire("api:b")).allowed).toBe(true);
    expect((await rs.tryAcquire("api:b")).allowed).toBe(false);
    await rs.close();
  });

  it("creates explicit clones with overrides", async () => {
    const rs = rsWith({ api: { rate: "10/s", burst: 10 } });
    const vip = rs.clone("api", "api:vip", { burst: 2 });
    expect((await vip.tryAcquire()).limit).toBe(2);
    expect((await rs.tryAcquire("api")).limit).toBe(10);
    expect(() => rs.clone("nope", "x")).toThrow(UnknownLimiterError);
    await rs.close();
  });

  it("refuses to clone onto an existing id unless asked to replace it (#14.5)", async () => {
    const rs = rsWith({ api: { rate: "10/s", burst: 10 }, login: { rate: "1/min", burst: 1 } });
    let refused: unknown;
    try {
      rs.clone("api", "login");
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(InvalidArgumentError);
    expect((refused as Error).message).toBe(
      'clone("api", "login"): a limiter "login" already exists; pass { replace: true } to replace it',
    );
    // The limiter from the file is untouched.
    expect(rs.dynamic("login").get()).toEqual({ rate: "1/min", burst: 1 });
    expect((await rs.tryAcquire("login")).limit).toBe(1);
    // A clone is an existing id too; cloning onto the source itself is refused the same way.
    rs.clone("api", "api:vip", { burst: 2 });
    expect(() => rs.clone("api", "api:vip", { burst: 3 })).toThrow(/"api:vip" already exists/);
    expect(() => rs.clone("api", "api")).toThrow(/"api" already exists/);
    // The explicit way: replace.
    const replaced = rs.clone("api", "login", { burst: 4 }, { replace: true });
    expect((await replaced.tryAcquire()).limit).toBe(4);
    expect(rs.dynamic("login").get()).toEqual({ rate: "10/s", burst: 4 });
    await rs.close();
  });

  it("uses ids such as __proto__ and constructor safely", async () => {
    // Object.fromEntries makes `__proto__` an own property, as a TOML table key would be.
    const rs = rsWith(
      Object.fromEntries([
        ["__proto__", { rate: "1/min", burst: 1 }],
        ["constructor", { rate: "1/min", burst: 2 }],
      ]),
    );
    expect((await rs.tryAcquire("__proto__")).limit).toBe(1);
    expect((await rs.tryAcquire("constructor")).limit).toBe(2);
    expect(({} as Record<string, unknown>).rate).toBeUndefined();
    await expect(rs.tryAcquire("toString")).rejects.toBeInstanceOf(UnknownLimiterError);
    await rs.close();
  });
});
