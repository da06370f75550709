import { describe, expect, it } from "vitest";
import {
  InvalidArgumentError,
  isConfigError,
  isInvalidKeyError,
  isLeaseExpiredError,
  isRateLimitExceededError,
  isRateSyncError,
  isStoreError,
  isStoreUnavailableError,
  isUnknownLimiterError,
  RateLimitExceededError,
  RateSync,
  rateLimited,
  type Store,
  StoreError,
  type StoreOp,
} from "../../src/index.ts";

/** A store of the test's own that fails every decision, the way a remote store fails in an outage. */
function failingStore(id: string): Store {
  const fail = () => Promise.reject(new StoreError(id, "decide failed: connection refused"));
  return {
    id,
    engine: "redis",
    decide: fail,
    peek: fail,
    refund: () => Promise.resolve(),
    charge: () => Promise.resolve(),
    reset: () => Promise.resolve(),
    release: () => Promise.resolve(),
    renew: () => Promise.resolve(false),
    close: () => Promise.resolve(),
  };
}

describe("the is…Error guards", () => {
  it("are false for an error that merely has a string code of the same spelling", () => {
    expect(isRateSyncError(Object.assign(new Error("x"), { code: "ENOENT" }))).toBe(false);
    const lookalikes: [(value: unknown) => boolean, string][] = [
      [isConfigError, "CONFIG_INVALID"],
      [isUnknownLimiterError, "UNKNOWN_LIMITER"],
      [isInvalidKeyError, "INVALID_KEY"],
      [isRateLimitExceededError, "RATE_LIMIT_EXCEEDED"],
      [isStoreError, "STORE_ERROR"],
      [isStoreUnavailableError, "STORE_UNAVAILABLE"],
      [isLeaseExpiredError, "LEASE_EXPIRED"],
    ];
    for (const [guard, code] of lookalikes) {
      expect(guard(Object.assign(new Error("x"), { code })), code).toBe(false);
      expect(isRateSyncError(Object.assign(new Error("x"), { code })), code).toBe(false);
    }
    expect(isRateSyncError(null)).toBe(false);
    expect(isRateSyncError({ code: "CLOSED" })).toBe(false);
  });

  it("are true for rate-sync's own errors, each for its own class only", () => {
    const error = new RateLimitExceededError("k", "api", 10);
    expect(isRateSyncError(error)).toBe(true);
    expect(isRateLimitExceededError(error)).toBe(true);
    expect(isStoreError(error)).toBe(false);
    expect(isStoreError(new StoreError("main", "down"))).toBe(true);
    // The mark is inherited, not an own property: nothing new shows when an error is logged or compared.
    expect(Object.getOwnPropertySymbols(error)).toEqual([]);
  });
});

describe("errors carry the decision they refused", () => {
  const toml = `
[stores.mem]
engine = "memory"

[stores.broken]
engine = "memory"

# A bucket, not a fixed window: a window's retry hint shrinks to nothing at its end, so an acquire near the end
# of a minute would wait and pass instead of being refused.
[limiters.one]
store = "mem"
rate = "1/m"
burst = 1

[limiters.closed]
store = "broken"
rate = "10/s"
on_store_error = "deny"
`;

  it("a refused wait: RateLimitExceededError.decision is the denial tryAcquire would have returned", async () => {
    const rs = RateSync.fromToml(toml, { env: {}, stores: { broken: failingStore("broken") } });
    await rs.tryAcquire("one");
    const denied = await rs.tryAcquire("one");
    const error = await rs.acquire("one", { timeout: "1s" }).catch((e: unknown) => e);
    expect(isRateLimitExceededError(error)).toBe(true);
    const { decision } = error as RateLimitExceededError;
    expect(decision).toMatchObject({ allowed: false, key: "one", limiter: "one", limit: 1, remaining: 0 });
    expect(decision?.policy).toEqual(denied.policy);
    expect(decision?.retryAfterMs).toBe((error as RateLimitExceededError).retryAfterMs);
    await rs.close();
  });

  it("a composite's refused wait carries every member's decision", async () => {
    const rs = RateSync.fromToml(toml, { env: {}, stores: { broken: failingStore("broken") } });
    await rs.tryAcquire("one");
    const error = (await rs.acquire(["one:a", "one"], { timeout: "1s" }).catch((e: unknown) => e)) as
      | RateLimitExceededError
      | undefined;
    expect(error?.decision?.results?.map((d) => d.key)).toEqual(["one:a", "one"]);
    expect(error?.decision?.key).toBe("one");
    await rs.close();
  });

  it("rateLimited in try mode", async () => {
    const rs = RateSync.fromToml(toml, { env: {} });
    const limited = rateLimited("one", async () => "done", { mode: "try", rateSync: rs });
    expect(await limited()).toBe("done");
    const error = (await limited().catch((e: unknown) => e)) as RateLimitExceededError;
    expect(error.decision).toMatchObject({ allowed: false, key: "one", limiter: "one", limit: 1 });
    await rs.close();
  });

  it("a wait denied by a failing store under on_store_error = deny: StoreError.decision", async () => {
    const rs = RateSync.fromToml(toml, { env: {}, stores: { broken: failingStore("broken") } });
    rs.on("storeError", () => {});
    const error = (await rs.acquire("closed", { timeout: "1s" }).catch((e: unknown) => e)) as StoreError;
    expect(isStoreError(error)).toBe(true);
    // The store's own error, as it said it: same message, same store.
    expect(error.message).toBe('Store "broken": decide failed: connection refused');
    expect(error.store).toBe("broken");
    expect(error.decision).toMatchObject({
      allowed: false,
      key: "closed",
      limiter: "closed",
      degraded: "store-error",
      retryAfterMs: 1000,
    });
    // A failure that decided nothing carries no decision.
    const op: StoreOp = {
      limiterId: "closed",
      key: "closed",
      params: { kind: "concurrency", maxConcurrent: 1, leaseMs: 1 },
      cost: 1,
    };
    const peeked = (await failingStore("broken")
      .peek(op)
      .catch((e: unknown) => e)) as StoreError;
    expect(peeked.decision).toBeUndefined();
    await rs.close();
  });
});

/** A store entry that the `stores` option replaces with the test's own object. */
const LEGACY_TOML = `
[stores.older]
engine = "memory"

[limiters.legacy]
store = "older"
rate = "10/s"
`;

describe("a custom store without Store.charge", () => {
  it("refuses rs.charge with an error naming the store, and still refunds", async () => {
    const { charge: _unused, ...older } = failingStore("older");
    const rs = RateSync.fromToml(LEGACY_TOML, {
      env: {},
      stores: { older },
    });
    try {
      const error = await rs.charge("legacy", 5).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toContain('store "older" cannot charge units');
      await expect(rs.refund("legacy", 5)).resolves.toBeUndefined();
    } finally {
      await rs.close();
    }
  });
});
