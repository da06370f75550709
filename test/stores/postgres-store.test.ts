/**
 * The PostgreSQL store's own behaviour beyond the shared conformance suite: stats and the local over-limit
 * cache, argument checks, closing, and a call stuck behind a row lock (timed out, cancelled, no harm done).
 */

import { afterAll, describe, expect, it } from "vitest";
import type { LimitParams } from "../../src/algorithms/types.ts";
import { InvalidArgumentError, StoreError } from "../../src/errors.ts";
import { postgresNames } from "../../src/stores/postgres/identifiers.ts";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.ts";
import type { StoreOp } from "../../src/stores/store.ts";
import { requirePostgres } from "../helpers/stores.ts";
import { adminSql, dropStoreObjects, testConfig } from "./postgres/setup.ts";

const postgres = await requirePostgres();
const config = testConfig("pg_store", { url: postgres.url, timeoutMs: 400 });
const table = postgresNames(config.schemaName, config.tableName).table;
const windowParams: LimitParams = { kind: "fixed_window", limit: 1, windowMs: 86_400_000 };
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe.skipIf(!postgres.available)("PostgreSQL store", () => {
  const store = new PostgresStore(config, { cleanupIntervalMs: 0 });

  afterAll(async () => {
    await store.close();
    await dropStoreObjects(config);
  });

  it("answers repeated denials from the local cache and counts calls, errors and cache hits", async () => {
    const op: StoreOp = { limiterId: "stats", key: "k", params: windowParams, cost: 1 };
    const before = store.stats();
    expect((await store.decide([op], 0)).allowed).toBe(true);
    const denied = await store.decide([op], 0);
    expect(denied.allowed).toBe(false);
    const cached = await store.decide([op], 0);
    expect(cached.allowed).toBe(false);
    expect(cached.results[0]?.fromCache).toBe(true);
    const after = store.stats();
    expect(after.calls - before.calls).toBe(3);
    expect(after.cacheHits - before.cacheHits).toBe(1);
    expect(after.errors).toBe(before.errors);
    expect(after.breaker).toBe("closed");
    // reset forgets the cached denial along with the state
    await store.reset("stats", "k");
    expect((await store.decide([op], 0)).allowed).toBe(true);
  });

  it("rejects a concurrency decision without a lease id, like every store", async () => {
    const op: StoreOp = {
      limiterId: "cc",
      key: "k",
      params: { kind: "concurrency", maxConcurrent: 1, leaseMs: 1000 },
      cost: 1,
    };
    await expect(store.decide([op], 0)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("an empty batch is allowed without a round trip", async () => {
    const calls = store.stats().calls;
    expect(await store.decide([], 0)).toEqual({ allowed: true, results: [] });
    expect(store.stats().calls).toBe(calls);
  });

  it("a call stuck behind a row lock times out as StoreError, is cancelled, and leaves the pool healthy", async () => {
    const params: LimitParams = { kind: "fixed_window", limit: 5, windowMs: 86_400_000 };
    const op: StoreOp = { limiterId: "locked", key: "k", params, cost: 1 };
    const probe: StoreOp = { ...op, key: "other" };
    await store.decide([op], 0);
    const admin = await adminSql(postgres.url);
    try {
      let release: () => void = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let locked: () => void = () => {};
      const isLocked = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const transaction = admin.begin(async (tx) => {
        await tx.unsafe(`SELECT 1 FROM ${table} WHERE limiter_id = 'locked' AND key = 'k' FOR UPDATE`);
        locked();
        await held;
      });
      await isLocked;
      const started = performance.now();
      const error = await store.decide([op], 0).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect(String((error as Error).message)).toMatch(/timed out/);
      expect(performance.now() - started).toBeLessThan(400 + 600);
      // Other keys are not blocked meanwhile.
      expect((await store.decide([probe], 0)).allowed).toBe(true);
      release();
      await transaction;
      // The timed-out statement was cancelled on the server: it consumed nothing (one unit used, not two).
      await sleep(50);
      const [row] = await admin.unsafe(`SELECT used FROM ${table} WHERE limiter_id = 'locked' AND key = 'k'`);
      expect(row?.used).toBe(1);
    } finally {
      await admin.end({ timeout: 1 });
    }
  });

  it("close() is idempotent and later calls reject with StoreError", async () => {
    const other = new PostgresStore(config, { cleanupIntervalMs: 0 });
    await other.ensureReady();
    await other.close();
    await other.close();
    await expect(
      other.decide([{ limiterId: "closed", key: "k", params: windowParams, cost: 1 }], 0),
    ).rejects.toBeInstanceOf(StoreError);
  });
});
