/**
 * The PostgreSQL store's schema: the DDL `postgresDdl` prints, auto-create when several stores start at once,
 * identifiers that are only ever identifiers, UNLOGGED tables, and `auto_create = false`.
 */

import { afterAll, describe, expect, it } from "vitest";
import type { LimitParams } from "../../src/algorithms/types.ts";
import { isStoreError } from "../../src/errors.ts";
import { postgresDdl, schemaMarker } from "../../src/stores/postgres/ddl.ts";
import { derivedName, postgresNames } from "../../src/stores/postgres/identifiers.ts";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.ts";
import type { StoreOp } from "../../src/stores/store.ts";
import { requirePostgres, uniqueName } from "../helpers/stores.ts";
import { adminSql, dropStoreObjects, testConfig } from "./postgres/setup.ts";

const postgres = await requirePostgres();
const params: LimitParams = { kind: "fixed_window", limit: 2, windowMs: 86_400_000 };
const op = (key: string): StoreOp => ({ limiterId: "schema", key, params, cost: 1 });

describe("postgresDdl", () => {
  it("quotes identifiers and honours unlogged", () => {
    const ddl = postgresDdl({ schemaName: "my schema", tableName: 'odd"name', unlogged: true });
    expect(ddl).toContain('CREATE SCHEMA IF NOT EXISTS "my schema"');
    expect(ddl).toContain('CREATE UNLOGGED TABLE IF NOT EXISTS "my schema"."odd""name"');
    expect(ddl).toContain('CREATE INDEX IF NOT EXISTS "odd""name_expires_at"');
    expect(postgresDdl({ schemaName: "public", tableName: "t", unlogged: false })).not.toContain("UNLOGGED");
    expect(postgresDdl({ schemaName: "public", tableName: "t", unlogged: false })).not.toContain(
      "CREATE SCHEMA",
    );
  });

  it("keeps derived names within 63 bytes and distinct for long table names", () => {
    const a = derivedName(`${"a".repeat(60)}_one`, "decide");
    const b = derivedName(`${"a".repeat(60)}_two`, "decide");
    expect(Buffer.byteLength(a)).toBeLessThanOrEqual(63);
    expect(a).not.toBe(b);
    expect(Buffer.byteLength(derivedName("é".repeat(31), "refund"))).toBeLessThanOrEqual(63);
  });
});

describe.skipIf(!postgres.available)("PostgreSQL schema on a real server", () => {
  const configs: ReturnType<typeof testConfig>[] = [];
  const schemas: string[] = [];
  const track = (config: ReturnType<typeof testConfig>) => {
    configs.push(config);
    return config;
  };

  afterAll(async () => {
    for (const config of configs) await dropStoreObjects(config);
    const admin = await adminSql(postgres.url);
    try {
      for (const schema of schemas) await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await admin.end({ timeout: 1 });
    }
  });

  it("the printed DDL runs (twice), and a store with auto_create = false works on it", async () => {
    const config = track(testConfig("pg_schema_manual", { url: postgres.url, autoCreate: false }));
    const admin = await adminSql(postgres.url);
    try {
      await admin.unsafe(postgresDdl(config));
      await admin.unsafe(postgresDdl(config));
    } finally {
      await admin.end({ timeout: 1 });
    }
    const store = new PostgresStore(config, { cleanupIntervalMs: 0 });
    try {
      expect((await store.decide([op("k")], 0)).allowed).toBe(true);
    } finally {
      await store.close();
    }
  });

  it("auto_create = false on a missing table fails with a StoreError", async () => {
    const config = track(testConfig("pg_schema_missing", { url: postgres.url, autoCreate: false }));
    const store = new PostgresStore(config, { cleanupIntervalMs: 0 });
    try {
      const error = await store.decide([op("k")], 0).catch((e: unknown) => e);
      expect(isStoreError(error)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it("several stores auto-creating one table at once all succeed and share it", async () => {
    const config = track(testConfig("pg_schema_race", { url: postgres.url }));
    const stores = Array.from({ length: 6 }, () => new PostgresStore(config, { cleanupIntervalMs: 0 }));
    try {
      await Promise.all(stores.map((store) => store.ensureReady()));
      const results = await Promise.all(stores.map((store) => store.decide([op("shared")], 0)));
      expect(results.filter((r) => r.allowed)).toHaveLength(2);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  it("marks an up-to-date schema, and re-applies the DDL when the mark is from another version", async () => {
    const config = track(testConfig("pg_schema_marker", { url: postgres.url }));
    const marker = schemaMarker(config);
    const admin = await adminSql(postgres.url);
    const comment = async () =>
      (await admin`SELECT obj_description(to_regprocedure(${marker.procedure}), 'pg_proc') AS c`)[0]?.c;
    try {
      const first = new PostgresStore(config, { cleanupIntervalMs: 0 });
      await first.ensureReady();
      await first.close();
      expect(await comment()).toBe(marker.comment);
      // An older (or newer) version's schema: the next start brings it to this version.
      await admin.unsafe(`COMMENT ON FUNCTION ${marker.procedure} IS 'rate-sync schema 0000'`);
      const second = new PostgresStore(config, { cleanupIntervalMs: 0 });
      await second.ensureReady();
      await second.close();
      expect(await comment()).toBe(marker.comment);
    } finally {
      await admin.end({ timeout: 1 });
    }
  });

  it("odd schema and table names are identifiers, never SQL; unlogged creates an UNLOGGED table", async () => {
    const schema = uniqueName("pg_schema_odd");
    schemas.push(schema);
    const config = track(
      testConfig("unused", {
        url: postgres.url,
        schemaName: schema,
        tableName: `Rate "State"; DROP TABLE x; --`,
        unlogged: true,
      }),
    );
    const store = new PostgresStore(config, { cleanupIntervalMs: 0 });
    const admin = await adminSql(postgres.url);
    try {
      expect((await store.decide([op("k'); DROP TABLE y; --")], 0)).allowed).toBe(true);
      const [row] = await admin`
        SELECT c.relpersistence FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ${schema} AND c.relname = ${config.tableName}`;
      expect(row?.relpersistence).toBe("u");
      const names = postgresNames(config.schemaName, config.tableName);
      const [state] = await admin.unsafe(`SELECT key, used FROM ${names.table}`);
      expect(state).toEqual({ key: "k'); DROP TABLE y; --", used: 1 });
    } finally {
      await admin.end({ timeout: 1 });
      await store.close();
    }
  });

  it("keys that PostgreSQL text cannot hold as such (NUL, lone surrogates) keep their own state", async () => {
    const config = track(testConfig("pg_schema_keys", { url: postgres.url }));
    const store = new PostgresStore(config, { cleanupIntervalMs: 0 });
    try {
      const keys = [
        "a\u0000b",
        "a\u0001b",
        "a\u00010b",
        "\ud800",
        "\udc00",
        "\ufffd",
        "a\u0001\u0001b",
        "ok 🎉",
      ];
      for (const key of keys) expect((await store.decide([op(key)], 0)).results[0]?.remaining).toBe(1);
    } finally {
      await store.close();
    }
  });

  it("keys that look like array syntax keep their own state in batches, composites and peeks", async () => {
    // Batches and composites send their keys as array literals: quotes, backslashes, commas, braces, spaces,
    // an unquoted NULL and the empty string must each stay one key of their own.
    const config = track(testConfig("pg_schema_array_keys", { url: postgres.url }));
    const store = new PostgresStore(config, { cleanupIntervalMs: 0 });
    try {
      const keys = [
        'a"b',
        "a\\b",
        "a\\",
        '\\"',
        "a,b",
        "{a}",
        "}{",
        " a ",
        "NULL",
        "null",
        "",
        "日本",
        "x'y",
      ];
      // All in one turn: one batch statement.
      const batch = await Promise.all(keys.map((key) => store.decide([op(key)], 0)));
      expect(batch.map((b) => b.results[0]?.remaining)).toEqual(keys.map(() => 1));
      // Each as a composite with its neighbour: every key is now used twice, its neighbour's state apart.
      for (let i = 0; i < keys.length; i += 2) {
        const pair = [op(keys[i] as string), op(keys[i + 1] ?? "tail")];
        const expected = [0, keys[i + 1] === undefined ? 1 : 0];
        expect((await store.decide(pair, 0)).results.map((r) => r.remaining)).toEqual(expected);
      }
      // Peeks of one turn (one statement over arrays) read each key's own state.
      const peeks = await Promise.all(keys.map((key) => store.peek(op(key))));
      expect(peeks.map((p) => p.remaining)).toEqual(keys.map(() => 0));
      expect((await store.peek(op("a"))).remaining).toBe(2);
      const admin = await adminSql(postgres.url);
      try {
        const names = postgresNames(config.schemaName, config.tableName);
        const rows = await admin.unsafe(`SELECT key FROM ${names.table} ORDER BY key`);
        expect(rows.map((row) => row.key).sort()).toEqual([...keys, "tail"].sort());
      } finally {
        await admin.end({ timeout: 1 });
      }
    } finally {
      await store.close();
    }
  });
});
