/**
 * Without the optional `postgres` package, every call of a PostgreSQL store rejects with a
 * StoreUnavailableError naming the store and the package — and construction itself never fails.
 */

import { describe, expect, it, vi } from "vitest";
import { StoreUnavailableError } from "../../src/errors.ts";
import type { StoreOp } from "../../src/stores/store.ts";
import { testConfig } from "./postgres/setup.ts";

vi.doMock("postgres", () => {
  throw new Error("Cannot find package 'postgres'");
});

describe("PostgreSQL store without the postgres package", () => {
  it("rejects every call with StoreUnavailableError, and keeps doing so", async () => {
    const { PostgresStore } = await import("../../src/stores/postgres/postgres-store.ts");
    const store = new PostgresStore(testConfig("pg_nodriver", { id: "db" }));
    const op: StoreOp = {
      limiterId: "x",
      key: "k",
      params: { kind: "fixed_window", limit: 1, windowMs: 1000 },
      cost: 1,
    };
    for (let i = 0; i < 7; i++) {
      const error = await store.decide([op], 0).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(error).toMatchObject({ store: "db", packageName: "postgres" });
    }
    await expect(store.peek(op)).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.reset("x", "k")).rejects.toBeInstanceOf(StoreUnavailableError);
    // A missing package is not an outage: the breaker stays closed.
    expect(store.stats().breaker).toBe("closed");
    await store.close();
  });
});
