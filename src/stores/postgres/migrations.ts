/**
 * @module
 * Versions of the PostgreSQL store's schema and the migrations between them. The version a database is at is
 * recorded in `<table>_schema` (one row per applied version); a table made before versions were recorded is
 * version 1. `auto_create` and `rate-sync migrate` bring a database up to {@link SCHEMA_VERSION} under the
 * store's advisory lock, and both refuse a database whose version is newer than this library knows.
 *
 * A migration changes the table (columns, indexes, data); the functions hold no data and are replaced whole
 * after every run, so they need no migration. Each migration's statements must be idempotent (`IF NOT EXISTS`,
 * `ADD COLUMN IF NOT EXISTS`): `rate-sync sql` prints all of them for people who migrate by hand.
 */

import { StoreError } from "../../errors.ts";
import type { Sql } from "./driver.ts";
import { type PostgresNames, postgresNames } from "./identifiers.ts";

/** The parts of a config that shape the schema. */
export interface SchemaOptions {
  readonly schemaName: string;
  readonly tableName: string;
  readonly unlogged: boolean;
}

/** One step from version `version - 1` to `version`. */
export interface Migration {
  /** The version this migration brings the database to (1, 2, …, in order, no gaps). */
  readonly version: number;
  /** What it changes, recorded beside the version. */
  readonly description: string;
  /** Its statements, in order; each idempotent. */
  statements(options: SchemaOptions): string[];
}

/** Every migration, in order. The last one's version is {@link SCHEMA_VERSION}. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "state table and its expiry index",
    statements: (options) => {
      const names = postgresNames(options.schemaName, options.tableName);
      return [
        `CREATE ${options.unlogged ? "UNLOGGED " : ""}TABLE IF NOT EXISTS ${names.table} (
  limiter_id   text COLLATE "C" NOT NULL,
  key          text COLLATE "C" NOT NULL,
  tag          text COLLATE "C" NOT NULL,
  lease_id     text COLLATE "C" NOT NULL DEFAULT '',
  tat          double precision,
  window_start double precision,
  used         double precision,
  previous     double precision,
  log          double precision[],
  expires_at   timestamptz NOT NULL,
  PRIMARY KEY (limiter_id, key, tag, lease_id)
)`,
        `CREATE INDEX IF NOT EXISTS ${names.expiryIndex} ON ${names.table} (expires_at)`,
      ];
    },
  },
];

/** The schema version this library creates and works with. */
export const SCHEMA_VERSION: number = MIGRATIONS.at(-1)?.version ?? 0;

/** Where a database stands: its version, and whether it recorded it (tables made before versions did not). */
export interface SchemaState {
  /** 0: no table; 1 for a table without recorded versions; else the highest version recorded. */
  readonly version: number;
  /** True when `<table>_schema` exists. */
  readonly recorded: boolean;
}

/** Reads the version of the store's schema (no lock; see {@link migrateSchema} for the locked read). */
export async function readSchemaState(
  runner: Pick<Sql, "unsafe">,
  names: PostgresNames,
): Promise<SchemaState> {
  const [row] = await runner.unsafe(
    "SELECT to_regclass($1::text) IS NOT NULL AS has_table, to_regclass($2::text) IS NOT NULL AS has_versions",
    [names.table, names.versionTable],
  );
  if (row?.has_versions !== true) return { version: row?.has_table === true ? 1 : 0, recorded: false };
  const [versions] = await runner.unsafe(
    `SELECT coalesce(max(version), 0)::int AS version FROM ${names.versionTable}`,
  );
  const recorded = Number(versions?.version ?? 0);
  // A version table left empty (made by hand, say) says nothing: the table itself tells.
  return { version: recorded > 0 ? recorded : row?.has_table === true ? 1 : 0, recorded: true };
}

/** The refusal of a database whose schema is newer than this library. */
export function schemaTooNew(
  storeId: string,
  names: PostgresNames,
  version: number,
  known: number,
): StoreError {
  return new StoreError(
    storeId,
    `the schema of ${names.display} is at version ${version}, newer than this rate-sync supports (version ${known}); upgrade rate-sync, or give this store another table_name`,
  );
}
