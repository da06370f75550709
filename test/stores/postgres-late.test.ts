/**
 * PostgreSQL statements that complete after their call timed out: another connection holds the state rows
 * locked (`SELECT … FOR UPDATE` in an open transaction) for longer than the call timeout, so the store's
 * statements wait on the lock, their callers see store errors, and the statements run when the lock goes.
 * The store must then count only what the callers saw admitted: fixed window count, bucket tokens and
 * concurrency slots of every timed-out call given back (or never applied).
 */

import { afterAll, describe, expect, it } from "vitest";
import type { LimitParams } from "../../src/algorithms/types.ts";
import { isStoreError } from "../../src/errors.ts";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.ts";
import type { StoreOp } from "../../src/stores/store.ts";
import { requirePostgres } from "../helpers/stores.ts";
import { adminSql, dropStoreObjects, testConfig } from "./postgres/setup.ts";

const postgres = await requirePostgres();
const TIMEOUT_MS = 300;
// The server-side statement timeout stays well above the lock hold, so the statements do complete late.
const config = testConfig("pg_late", { url: postgres.url, timeoutMs: TIMEOUT_MS, socketTimeoutMs: 10_000 });
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const FIXED: LimitParams = { kind: "fixed_window", limit: 1_000, windowMs: 3_600_000 };
const BUCKET: LimitParams = { kind: "token_bucket", intervalMs: 3_600_000, burst: 1_000 };
const SLOTS: LimitParams = { kind: "concurrency", maxConcurrent: 2, leaseMs: 60_000 };

describe.skipIf(!postgres.available)("postgres statements that complete after the timeout", () => {
  afterAll(async () => {
    await dropStoreObjects(config, postgres.url);
  });

  // With the default breaker, the failures open it and the store replaces its pool: the old connections must
  // still deliver the late rows.
  for (const breaker of [{ failureThreshold: 1_000 }, undefined]) {
    it(`count only what the callers saw admitted (${breaker ? "breaker kept closed" : "default breaker"})`, async () => {
      // The table and functions first, with a budget the DDL fits in on a loaded machine.
      const setup = new PostgresStore({ ...config, timeoutMs: 10_000 });
      await setup.ensureReady();
      await setup.close();
      const store = new PostgresStore(config, { ...(breaker ? { breaker } : {}), overLimitCache: false });
      const inspector = new PostgresStore(config, { overLimitCache: false });
      const admin = await adminSql(postgres.url);
      const limiterId = breaker ? "late-closed" : "late-default";
      const fw: StoreOp = { limiterId, key: "fw", params: FIXED, cost: 1 };
      const tb: StoreOp = { limiterId, key: "tb", params: BUCKET, cost: 1 };
      let lease = 0;
      const slot = (): StoreOp => ({
        limiterId,
        key: "cc",
        params: SLOTS,
        cost: 1,
        leaseId: `l${lease++}`,
      });
      try {
        // Rows exist (so the statements lock them) and the connection pool is warm.
        expect((await store.decide([fw], 0)).allowed).toBe(true);
        expect((await store.decide([tb], 0)).allowed).toBe(true);
        const first = slot();
        expect((await store.decide([first], 0)).allowed).toBe(true);
        await store.release(first.limiterId, first.key, first.leaseId!);

        let unlock!: () => void;
        const locked = new Promise<void>((resolve) => {
          unlock = resolve;
        });
        let holding!: () => void;
        const held = new Promise<void>((resolve) => {
          holding = resolve;
        });
        const holder = admin.begin(async (tx) => {
          await tx.unsafe(
            `SELECT 1 FROM ${JSON.stringify(config.tableName)} WHERE limiter_id = $1 FOR UPDATE`,
            [limiterId],
          );
          holding();
          await locked;
        });
        await held;

        const calls: Promise<unknown>[] = [];
        for (let i = 0; i < 8; i++) calls.push(store.decide([fw], 0), store.decide([tb], 0));
        calls.push(store.decide([slot()], 0));
        const outcomes = await Promise.all(
          calls.map((c) =>
            c.then(
              () => "ok",
              (e: unknown) => e,
            ),
          ),
        );
        for (const outcome of outcomes) expect(isStoreError(outcome)).toBe(true);
        await sleep(200);
        unlock();
        await holder;
        // Right after the lock goes: whatever ran late has been given back.
        await sleep(500);
        expect(store.stats().lateRefunds).toBeGreaterThan(0);
        expect((await inspector.peek(fw)).remaining).toBe(999);
        expect((await inspector.peek(tb)).remaining).toBe(999);
        expect((await inspector.peek(slot())).remaining).toBe(2);
      } finally {
        await store.close();
        await inspector.close();
        await admin.end({ timeout: 1 });
      }
    }, 30_000);
  }
});
