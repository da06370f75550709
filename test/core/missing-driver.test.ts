import { describe, expect, it } from "vitest";
import type { RedisStoreConfig } from "../../src/config/types.ts";
import { isStoreUnavailableError, RateSync, StoreUnavailableError } from "../../src/index.ts";
import { RedisStore } from "../../src/stores/redis/redis-store.ts";
import { SqliteStore } from "../../src/stores/sqlite/sqlite-store.ts";

describe("a store whose driver package is missing (SPEC §1)", () => {
  const config: RedisStoreConfig = {
    id: "shared",
    engine: "redis",
    url: "redis://127.0.0.1:6379",
    keyPrefix: "never_used",
    cluster: false,
    poolMaxSize: 10,
    timeoutMs: 1000,
  };
  // The same failure `import("ioredis")` gives when the package is not installed.
  const missing = () =>
    Promise.reject(
      Object.assign(new Error("Cannot find package 'ioredis'"), { code: "ERR_MODULE_NOT_FOUND" }),
    );

  it("rejects with a clear error naming the store and the package, whatever on_store_error says", async () => {
    const rs = RateSync.fromConfig(
      {
        stores: { shared: { engine: "redis", url: "redis://127.0.0.1:6379" }, local: { engine: "memory" } },
        limiters: {
          open: { store: "shared", rate: "10/s", on_store_error: "allow" },
          local: { store: "local", algorithm: "fixed_window", limit: 5, window: "1h" },
        },
      },
      { stores: { shared: new RedisStore(config, { importDriver: missing }) } },
    );
    const error = await rs.tryAcquire("open").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(isStoreUnavailableError(error)).toBe(true);
    expect((error as Error).message).toMatch(
      /Store "shared" needs the package "ioredis".*npm install ioredis/,
    );
    // A composite with a member on a healthy store gives back what that member took.
    await expect(rs.tryAcquire(["local", "open"])).rejects.toBeInstanceOf(StoreUnavailableError);
    expect((await rs.peek("local")).remaining).toBe(5);
    await rs.close();
  });

  it("SQLite: the same error, from tryAcquire and tryAcquireSync alike, and nothing is consumed", async () => {
    // The same failure `require("better-sqlite3")` gives when the package is not installed.
    const missingSqlite = () => {
      throw Object.assign(new Error("Cannot find module 'better-sqlite3'"), { code: "MODULE_NOT_FOUND" });
    };
    const rs = RateSync.fromConfig(
      {
        stores: { file: { engine: "sqlite", path: "never-created.db" }, local: { engine: "memory" } },
        limiters: {
          open: { store: "file", rate: "10/s", on_store_error: "allow" },
          local: { store: "local", algorithm: "fixed_window", limit: 5, window: "1h" },
        },
      },
      {
        stores: {
          file: new SqliteStore(
            { id: "file", engine: "sqlite", path: "never-created.db", tableName: "t", busyTimeoutMs: 1000 },
            { loadDriver: missingSqlite },
          ),
        },
      },
    );
    const error = await rs.tryAcquire("open").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toMatch(
      /Store "file" needs the package "better-sqlite3".*npm install better-sqlite3/,
    );
    expect(() => rs.tryAcquireSync("open")).toThrow(StoreUnavailableError);
    await expect(rs.tryAcquire(["local", "open"])).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(() => rs.tryAcquireSync(["local", "open"])).toThrow(StoreUnavailableError);
    expect((await rs.peek("local")).remaining).toBe(5);
    await rs.close();
  });
});
