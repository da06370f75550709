/**
 * @module
 * Shared set-up of the PostgreSQL store tests: a config on a table unique to the test file, and the cleanup that
 * drops the table and the functions created for it.
 */

import type { PostgresStoreConfig } from "../../../src/config/types.ts";
import { postgresNames } from "../../../src/stores/postgres/identifiers.ts";
import { databaseUrl, uniqueName } from "../../helpers/stores.ts";

/** A config for a fresh table (`rs_<base>_…`), with test-friendly defaults. */
export function testConfig(base: string, overrides: Partial<PostgresStoreConfig> = {}): PostgresStoreConfig {
  return {
    id: "pg",
    engine: "postgres",
    url: databaseUrl(),
    tableName: uniqueName(base),
    schemaName: "public",
    autoCreate: true,
    unlogged: false,
    poolMaxSize: 4,
    timeoutMs: 5_000,
    ...overrides,
  };
}

/** A direct connection for assertions on the table (not through the store under test). */
export async function adminSql(url: string = databaseUrl()) {
  const postgres = ((await import("postgres")) as unknown as { default: typeof import("postgres") }).default;
  return postgres(url, { max: 2, onnotice: () => {} });
}

/** Drops the table and every function a store created for `config` (on the server at `url`). */
export async function dropStoreObjects(
  config: Pick<PostgresStoreConfig, "schemaName" | "tableName">,
  url: string = databaseUrl(),
): Promise<void> {
  const names = postgresNames(config.schemaName, config.tableName);
  const sql = await adminSql(url);
  try {
    await sql.unsafe(`DROP TABLE IF EXISTS ${names.table}`);
    await sql.unsafe(`DROP TABLE IF EXISTS ${names.versionTable}`);
    for (const fn of names.functions) await sql.unsafe(`DROP FUNCTION IF EXISTS ${fn}`);
  } finally {
    await sql.end({ timeout: 1 });
  }
}
