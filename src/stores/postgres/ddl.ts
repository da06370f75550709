/**
 * @module
 * The schema of the PostgreSQL store: one table, one index on expiry, and the functions that decide.
 * `auto_create` and `rate-sync migrate` run these statements through the migrations (`migrations.ts`);
 * {@link postgresDdl} prints them for people who migrate by hand (`rate-sync sql`).
 *
 * Layout (one row per state, one row per lease):
 * - `(limiter_id, key, tag, lease_id)` is the primary key. Separate columns (not one concatenated name) make
 *   the identity injective by construction: no limiter id or key can ever collide with another pair.
 *   `tag` is `stateTag(params)` (algorithm + window), so an algorithm change on reload starts fresh.
 * - Rate states use typed columns rather than jsonb: `tat` (buckets), `window_start` + `used` (+ `previous`)
 *   (windows), `log` (the sliding-window log, `[t0, c0, t1, c1, …]` as `double precision[]`). Unused columns
 *   are NULL and cost one bit each; reads need no JSON parsing.
 * - Concurrency: one lock row (`lease_id = ''`) serializes grants on a key; each lease is its own row with its
 *   own `expires_at`, so release and renew touch one row by primary key and expired leases simply stop
 *   counting (and are swept later). Rows beat an array in the key's row because renew/release need no
 *   read-modify-write of every other holder's lease.
 * - Text columns use the `"C"` collation: byte comparison is faster than a locale's and gives the one total
 *   order in which composite decisions lock rows.
 * - `expires_at` is when a row stops constraining anything; the index on it lets the background sweep find
 *   expired rows without scanning the table.
 */

import { createHash } from "node:crypto";
import type { PostgresStoreConfig } from "../../config/types.ts";
import { decideBatchFunctionSql } from "./batch-sql.ts";
import {
  decideFunctionSql,
  decideOneFunctionSql,
  rateFunctionSql,
  stepFunctionSql,
} from "./functions-sql.ts";
import { type PostgresNames, postgresNames } from "./identifiers.ts";
import { MIGRATIONS, type Migration, SCHEMA_VERSION } from "./migrations.ts";
import { refundFunctionSql } from "./refund-sql.ts";
import { renewFunctionSql } from "./renew-sql.ts";

/** The parts of a PostgreSQL store config that shape its DDL. */
export type PostgresDdlOptions = Pick<PostgresStoreConfig, "schemaName" | "tableName" | "unlogged">;

/** Argument types of `<table>_decide`, to name the function unambiguously. */
const DECIDE_ARGUMENTS =
  "(text[], text[], text[], text[], double precision[], double precision[], double precision[], text[], double precision, boolean)";

/**
 * How a store recognises a schema that is already up to date: the decide function's comment holds the schema
 * version and a hash of the DDL. Processes that find it skip auto-create entirely (no lock, no catalog writes);
 * a new version of the DDL (an upgrade) has another comment and is applied once, under the advisory lock
 * (`migrations.ts`).
 */
export interface SchemaMarker {
  /** `regprocedure` text of the decide function. */
  readonly procedure: string;
  /** The table, as `regclass` text. */
  readonly table: string;
  /** The comment an up-to-date schema carries. */
  readonly comment: string;
}

/** The {@link SchemaMarker} of a config's DDL (with `migrations`, for a schema built by another list). */
export function schemaMarker(
  config: PostgresDdlOptions,
  migrations: readonly Migration[] = MIGRATIONS,
): SchemaMarker {
  const names = postgresNames(config.schemaName, config.tableName);
  const hash = createHash("sha256")
    .update(
      [
        ...migrations.flatMap((migration) => migration.statements(config)),
        ...functionStatements(config),
      ].join(";\n"),
    )
    .digest("hex")
    .slice(0, 16);
  return {
    procedure: `${names.decideFunction}${DECIDE_ARGUMENTS}`,
    table: names.table,
    comment: `rate-sync schema ${migrations.at(-1)?.version ?? 0} ${hash}`,
  };
}

/**
 * The DDL as separate statements, in the order they must run, for a database of any version up to this one:
 * the schema, the version table, every migration (each idempotent), the versions recorded, the functions and
 * the marker. Every statement is idempotent.
 */
export function ddlStatements(config: PostgresDdlOptions): string[] {
  const names = postgresNames(config.schemaName, config.tableName);
  return [
    ...schemaStatements(config),
    ...MIGRATIONS.flatMap((migration) => [
      ...migration.statements(config),
      recordVersionSql(names, migration.version, migration.description),
    ]),
    ...finishingStatements(config),
  ];
}

/** `CREATE SCHEMA` (unless public) and the version table: what every migration run starts with. */
export function schemaStatements(config: PostgresDdlOptions): string[] {
  const names = postgresNames(config.schemaName, config.tableName);
  const statements: string[] = [];
  // "public" always exists, and CREATE SCHEMA checks the CREATE privilege even when the schema exists.
  if (config.schemaName !== "public") statements.push(`CREATE SCHEMA IF NOT EXISTS ${names.schema}`);
  statements.push(
    `CREATE TABLE IF NOT EXISTS ${names.versionTable} (
  version     integer PRIMARY KEY,
  description text NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT now()
)`,
  );
  return statements;
}

/** Records that `version` is applied (idempotent). */
export function recordVersionSql(names: PostgresNames, version: number, description: string): string {
  return `INSERT INTO ${names.versionTable} (version, description) VALUES (${version}, ${quoteLiteral(description)}) ON CONFLICT (version) DO NOTHING`;
}

/** The functions (replaced whole every time: they hold no data) and the marker comment, after the migrations. */
export function finishingStatements(
  config: PostgresDdlOptions,
  migrations: readonly Migration[] = MIGRATIONS,
): string[] {
  const marker = schemaMarker(config, migrations);
  return [...functionStatements(config), `COMMENT ON FUNCTION ${marker.procedure} IS '${marker.comment}'`];
}

function functionStatements(config: PostgresDdlOptions): string[] {
  const names: PostgresNames = postgresNames(config.schemaName, config.tableName);
  return [
    rateFunctionSql(names),
    stepFunctionSql(names),
    decideOneFunctionSql(names),
    decideFunctionSql(names),
    decideBatchFunctionSql(names),
    refundFunctionSql(names),
    renewFunctionSql(names),
  ];
}

/** A SQL string literal. */
function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * The SQL that creates (or brings up to date) the version table, table, index and functions of a PostgreSQL
 * store, for people who migrate by hand (with `auto_create = false`). Idempotent: safe to run again, and running
 * it after an upgrade applies the new migrations and replaces the functions with the new version. It does not
 * check the recorded version first: `rate-sync migrate` does, and refuses a database newer than the library.
 *
 * @example
 * ```ts
 * import { postgresDdl } from "rate-sync";
 * console.log(postgresDdl({ schemaName: "public", tableName: "rate_sync_state", unlogged: false }));
 * ```
 */
export function postgresDdl(config: PostgresDdlOptions): string {
  const header = `-- rate-sync PostgreSQL store: ${config.schemaName}.${config.tableName} (schema version ${SCHEMA_VERSION})\n`;
  return `${header}${ddlStatements(config)
    .map((statement) => `${statement};\n`)
    .join("\n")}`;
}
