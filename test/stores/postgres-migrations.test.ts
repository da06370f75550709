/**
 * Schema versions of the PostgreSQL store on a real server: the version recorded in `<table>_schema`, a table
 * made before versions were recorded taken as version 1, an upgrade applied once under the advisory lock
 * (several processes at once), a dry run that changes nothing, and the refusal of a database newer than the
 * library, with auto_create and without. Also a store on the application's own postgres.js `sql`. Every test
 * works on tables of its own.
 */

import { afterAll, describe, expect, it } from "vitest";
import type { LimitParams } from "../../src/algorithms/types.ts";
import { RateSync } from "../../src/core/rate-sync.ts";
import { isStoreError } from "../../src/errors.ts";
import { schemaMarker } from "../../src/stores/postgres/ddl.ts";
import { postgresNames } from "../../src/stores/postgres/identifiers.ts";
import { migrateSchema } from "../../src/stores/postgres/migrate.ts";
import { MIGRATIONS, type Migration, SCHEMA_VERSION } from "../../src/stores/postgres/migrations.ts";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.ts";
import type { StoreOp } from "../../src/stores/store.ts";
import { requirePostgres } from "../helpers/stores.ts";
import { adminSql, dropStoreObjects, testConfig } from "./postgres/setup.ts";

const postgres = await requirePostgres();
const params: LimitParams = { kind: "fixed_window", limit: 2, windowMs: 86_400_000 };
const op = (key: string): StoreOp => ({ limiterId: "mig", key, params, cost: 1 });

/** A version 2 of the schema, as a later release might add: a column, added idempotently. */
const V2: readonly Migration[] = [
  ...MIGRATIONS,
  {
    version: 2,
    description: "a note column",
    statements: (options) => [
      `ALTER TABLE ${postgresNames(options.schemaName, options.tableName).table} ADD COLUMN IF NOT EXISTS note text`,
    ],
  },
];

describe.skipIf(!postgres.available)("PostgreSQL schema versions", () => {
  const configs: ReturnType<typeof testConfig>[] = [];
  const track = (base: string, overrides: Parameters<typeof testConfig>[1] = {}) => {
    const config = testConfig(base, { url: postgres.url, ...overrides });
    configs.push(config);
    return config;
  };
  const admin = adminSql(postgres.url);

  afterAll(async () => {
    for (const config of configs) await dropStoreObjects(config, postgres.url);
    await (await admin).end({ timeout: 1 });
  });

  /** The versions recorded for a config's table, in order. */
  const versions = async (config: ReturnType<typeof testConfig>) => {
    const sql = await admin;
    const names = postgresNames(config.schemaName, config.tableName);
    const rows = await sql.unsafe(`SELECT version, description FROM ${names.versionTable} ORDER BY version`);
    return rows.map((row) => [row.version, row.description]);
  };

  it("a new table records this library's version", async () => {
    const config = track("pg_mig_new");
    const store = new PostgresStore(config, { cleanupIntervalMs: 0 });
    try {
      await store.ensureReady();
      expect((await store.decide([op("k")], 0)).allowed).toBe(true);
    } finally {
      await store.close();
    }
    expect(SCHEMA_VERSION).toBe(1);
    expect(await versions(config)).toEqual([[1, "state table and its expiry index"]]);
  });

  it("a table made before versions were recorded is version 1, and keeps its rows", async () => {
    const config = track("pg_mig_old");
    const sql = await admin;
    // What an earlier release created: the table, its index and functions, no version table.
    const first = new PostgresStore(config, { cleanupIntervalMs: 0 });
    await first.decide([op("kept")], 0);
    await first.close();
    const names = postgresNames(config.schemaName, config.tableName);
    await sql.unsafe(`DROP TABLE ${names.versionTable}`);
    await sql.unsafe(`COMMENT ON FUNCTION ${schemaMarker(config).procedure} IS 'rate-sync schema 0000'`);
    const second = new PostgresStore(config, { cleanupIntervalMs: 0 });
    try {
      await second.ensureReady();
      // The row written before is still there: the second call on the key is its last allowed one.
      const result = await second.decide([op("kept")], 0);
      expect(result.results[0]?.remaining).toBe(0);
    } finally {
      await second.close();
    }
    expect(await versions(config)).toEqual([[1, "found without a recorded version"]]);
  });

  it("an upgrade runs once under the lock, however many processes start at once; a dry run changes nothing", async () => {
    const config = track("pg_mig_up");
    const store = new PostgresStore(config, { cleanupIntervalMs: 0 });
    await store.ensureReady();
    await store.decide([op("before")], 0);
    await store.close();
    const sql = await admin;
    const dry = await migrateSchema(sql, config, { storeId: "pg", migrations: V2, dryRun: true });
    expect(dry.from).toBe(1);
    expect(dry.to).toBe(2);
    expect(dry.applied.map((m) => m.version)).toEqual([2]);
    expect(dry.statements.some((s) => s.includes("ADD COLUMN IF NOT EXISTS note"))).toBe(true);
    expect(await versions(config)).toEqual([[1, "state table and its expiry index"]]);

    const results = await Promise.all(
      Array.from({ length: 6 }, () => migrateSchema(sql, config, { storeId: "pg", migrations: V2 })),
    );
    // Exactly one of them found version 1 and applied version 2; the others found it done.
    expect(results.filter((r) => r.applied.length === 1)).toHaveLength(1);
    expect(results.filter((r) => r.from === 2 && r.applied.length === 0)).toHaveLength(5);
    expect(await versions(config)).toEqual([
      [1, "state table and its expiry index"],
      [2, "a note column"],
    ]);
    const names = postgresNames(config.schemaName, config.tableName);
    const [row] = await sql.unsafe(`SELECT count(*)::int AS n FROM ${names.table} WHERE note IS NULL`);
    expect(row?.n).toBe(1);
  });

  it("refuses a database newer than the library, with auto_create and without, and changes nothing", async () => {
    const config = track("pg_mig_newer");
    const sql = await admin;
    await migrateSchema(sql, config, { storeId: "pg", migrations: V2 });
    const marker = async () =>
      (
        await sql`SELECT obj_description(to_regprocedure(${schemaMarker(config).procedure}), 'pg_proc') AS c`
      )[0]?.c;
    const before = await marker();
    for (const autoCreate of [true, false]) {
      const store = new PostgresStore({ ...config, autoCreate }, { cleanupIntervalMs: 0 });
      try {
        const error = await store.ensureReady().catch((e: unknown) => e);
        expect(isStoreError(error)).toBe(true);
        expect((error as Error).message).toContain(
          `the schema of public.${config.tableName} is at version 2, newer than this rate-sync supports (version 1)`,
        );
      } finally {
        await store.close();
      }
    }
    expect(await marker()).toBe(before);
    expect((await versions(config)).map(([version]) => version)).toEqual([1, 2]);
  });

  it("auto_create = false says what to run on a missing table", async () => {
    const config = track("pg_mig_missing", { autoCreate: false });
    const store = new PostgresStore(config, { cleanupIntervalMs: 0 });
    try {
      const error = await store.ensureReady().catch((e: unknown) => e);
      expect(isStoreError(error)).toBe(true);
      expect((error as Error).message).toContain("does not exist and auto_create is false");
      expect((error as Error).message).toContain("rate-sync migrate");
    } finally {
      await store.close();
    }
  });

  it("a store on the application's own sql creates its schema there and leaves the sql open", async () => {
    const config = track("pg_byo");
    const appSql = await adminSql(postgres.url);
    const rs = RateSync.fromConfig(
      {
        stores: { db: { engine: "postgres", client: "app", table_name: config.tableName, timeout: "5s" } },
        limiters: { api: { store: "db", algorithm: "fixed_window", limit: 2, window: "1d" } },
      },
      { clients: { app: appSql } },
    );
    try {
      const decisions = [];
      for (let i = 0; i < 3; i++) decisions.push((await rs.tryAcquire("api")).allowed);
      expect(decisions).toEqual([true, true, false]);
      await rs.close();
      // The application's pool is still its own and still works.
      const [row] = await appSql.unsafe(
        `SELECT count(*)::int AS n FROM ${postgresNames("public", config.tableName).table}`,
      );
      expect(row?.n).toBe(1);
      expect(await versions(config)).toEqual([[1, "state table and its expiry index"]]);
    } finally {
      await rs.close();
      await appSql.end({ timeout: 1 });
    }
  });

  it("refuses postgres connection settings beside client", () => {
    const error = thrown(() => {
      RateSync.fromConfig(
        { stores: { db: { engine: "postgres", client: "app", url: postgres.url, pool_max_size: 3 } } },
        { clients: { app: (() => {}) as never } },
      );
    });
    const message = (error as Error).message;
    expect(message).toContain('stores.db.url: "url" cannot be used with client');
    expect(message).toContain('stores.db.pool_max_size: "pool_max_size" cannot be used with client');
  });
});

/** What `fn` throws (undefined when it does not). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}
