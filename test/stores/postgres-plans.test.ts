/**
 * The store's functions keep finding rows by index after the table grows. PL/pgSQL caches each statement's plan
 * per connection; one made while the table was nearly empty (a fresh store) read the whole table, and it stayed
 * while the table grew. Here a store warms its connection up on a nearly empty table (batches of decisions,
 * composites, concurrency slots, peeks, refunds), the table then grows to 20,000 rows, and the same calls run
 * again: PostgreSQL's own counters must show no sequential scan of the table. On a real PostgreSQL.
 */

import { afterAll, describe, expect, it } from "vitest";
import type { ConcurrencyParams, RateParams } from "../../src/algorithms/types.ts";
import { postgresNames } from "../../src/stores/postgres/identifiers.ts";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.ts";
import type { StoreOp } from "../../src/stores/store.ts";
import { requirePostgres } from "../helpers/stores.ts";
import { adminSql, dropStoreObjects, testConfig } from "./postgres/setup.ts";

const postgres = await requirePostgres();

const window: RateParams = { kind: "fixed_window", limit: 1_000_000, windowMs: 3_600_000 };
const bucket: RateParams = { kind: "token_bucket", intervalMs: 1, burst: 1_000_000 };
const slots: ConcurrencyParams = { kind: "concurrency", maxConcurrent: 1_000, leaseMs: 3_600_000 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!postgres.available)("plans after the table grows", () => {
  // One connection: every call below runs on the session whose plans the warm-up cached.
  const config = testConfig("plans", { url: postgres.url, poolMaxSize: 1 });
  const store = new PostgresStore(config, { cleanupIntervalMs: 0, overLimitCache: false });
  const table = postgresNames(config.schemaName, config.tableName).table;
  afterAll(async () => {
    await store.close();
    await dropStoreObjects(config, postgres.url);
  });

  /** One round of every kind of call that reads the table through a function, `round` keeping leases apart. */
  async function round(round: number): Promise<void> {
    const op = (key: string, params: RateParams = window): StoreOp => ({
      limiterId: "p",
      key,
      params,
      cost: 1,
    });
    const keys = ["a", "b", "c", "d", "e", "f", "g", "h"];
    // A batch of single ops, two composites (each a batch of one) and a concurrency slot, in one turn and alone.
    await Promise.all(keys.map((key) => store.decide([op(key)], 0)));
    await store.decide([op("a"), op("b", bucket)], 0);
    const lease: StoreOp = { limiterId: "p", key: "slot", params: slots, cost: 1, leaseId: `l${round}` };
    await Promise.all([store.decide([op("c"), op("d", bucket)], 0), store.decide([lease], 0)]);
    // Lone single ops: each algorithm's plain statement (a prepared statement, cached like the functions' plans).
    for (const key of keys) await store.decide([op(key, key < "e" ? window : bucket)], 0);
    // Peeks and refunds of one turn.
    await Promise.all(keys.map((key) => store.peek(op(key))));
    await Promise.all(keys.map((key) => store.refund([op(key)])));
    await store.release("p", "slot", `l${round}`);
  }

  /** Sequential scans of the table so far, once the store's session has reported its counters. */
  async function seqScans(): Promise<number> {
    // A session reports its counters when a transaction ends at least a second after its last report.
    await sleep(1_100);
    await store.keyCount("none");
    await sleep(100);
    const admin = await adminSql(postgres.url);
    try {
      const [row] = await admin.unsafe(
        "SELECT seq_scan::int AS n FROM pg_stat_user_tables WHERE relid = $1::regclass",
        [table],
      );
      return Number(row?.n ?? Number.NaN);
    } finally {
      await admin.end({ timeout: 1 });
    }
  }

  it("no call scans the whole table once it holds 20,000 rows", { timeout: 60_000 }, async () => {
    // Statistics of the small table, as autovacuum takes them soon after a store starts (after 50 changes); then
    // a warm-up well past the five runs after which a statement may switch to its cached generic plan.
    const admin = await adminSql(postgres.url);
    try {
      await round(0);
      await admin.unsafe(`VACUUM ANALYZE ${table}`);
      for (let i = 1; i < 10; i++) await round(i);
      await admin.unsafe(
        `INSERT INTO ${table} (limiter_id, key, tag, lease_id, expires_at)
         SELECT 'grow', 'k' || g, 'fw', '', now() + interval '1 hour' FROM generate_series(1, 20000) AS g`,
      );
    } finally {
      await admin.end({ timeout: 1 });
    }
    const before = await seqScans();
    for (let i = 10; i < 15; i++) await round(i);
    expect((await seqScans()) - before).toBe(0);
  });
});
