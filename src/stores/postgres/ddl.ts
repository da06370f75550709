/**
 * @module
 * The schema of the PostgreSQL store: one table, one index on expiry, and the functions that decide.
 * `auto_create` runs these statements; {@link postgresDdl} prints them for people who migrate by hand
 * (`rate-sync sql`).
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
import { refundFunctionSql } from "./refund-sql.ts";
import { renewFunctionSql } from "./renew-sql.ts";

/** The parts of a PostgreSQL store config that shape its DDL. */
export type PostgresDdlOptions = Pick<PostgresStoreConfig, "schemaName" | "tableName" | "unlogged">;

/** Argument types of `<table>_decide`, to name the function unambiguously. */
const DECIDE_ARGUMENTS =
  "(text[], text[], text[], text[], double precision[], double precision[], double precision[], text[], double precision, boolean)";

/**
 * How a store recognises a schema that is already up to date: the decide function's comment holds a hash of the
 * DDL. Processes that find it skip auto-create entirely (no lock, no catalog writes); a new version of the DDL
 * (an upgrade) has another hash and is applied once.
 */
export interface SchemaMarker {
  /** `regprocedure` text of the decide function. */
  readonly procedure: string;
  /** The table, as `regclass` text. */
  readonly table: string;
  /** The comment an up-to-date schema carries. */
  readonly comment: string;
}

/** The {@link SchemaMarker} of a config's DDL. */
export function schemaMarker(config: PostgresDdlOptions): SchemaMarker {
  const names = postgresNames(config.schemaName, config.tableName);
  const hash = createHash("sha256").update(baseStatements(config).join(";\n")).digest("hex").slice(0, 16);
  return {
    procedure: `${names.decideFunction}${DECIDE_ARGUMENTS}`,
    table: names.table,
    comment: `rate-sync schema ${hash}`,
  };
}

/** The DDL as separate statements, in the order they must run. Every statement is idempotent. */
export function ddlStatements(config: PostgresDdlOptions): string[] {
  const marker = schemaMarker(config);
  return [...baseStatements(config), `COMMENT ON FUNCTION ${marker.procedure} IS '${marker.comment}'`];
}

function baseStatements(config: PostgresDdlOptions): string[] {
  const names: PostgresNames = postgresNames(config.schemaName, config.tableName);
  const statements: string[] = [];
  // "public" always exists, and CREATE SCHEMA checks the CREATE privilege even when the schema exists.
  if (config.schemaName !== "public") statements.push(`CREATE SCHEMA IF NOT EXISTS ${names.schema}`);
  statements.push(
    `CREATE ${config.unlogged ? "UNLOGGED " : ""}TABLE IF NOT EXISTS ${names.table} (
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
    rateFunctionSql(names),
    stepFunctionSql(names),
    decideOneFunctionSql(names),
    decideFunctionSql(names),
    decideBatchFunctionSql(names),
    refundFunctionSql(names),
    renewFunctionSql(names),
  );
  return statements;
}

/**
 * The SQL that creates the table, index and functions of a PostgreSQL store, for people who migrate by hand
 * (with `auto_create = false`). Idempotent: safe to run again, and running it after an upgrade replaces the
 * functions with the new version.
 *
 * @example
 * ```ts
 * import { postgresDdl } from "rate-sync";
 * console.log(postgresDdl({ schemaName: "public", tableName: "rate_sync_state", unlogged: false }));
 * ```
 */
export function postgresDdl(config: PostgresDdlOptions): string {
  const header = `-- rate-sync PostgreSQL store: ${config.schemaName}.${config.tableName}\n`;
  return `${header}${ddlStatements(config)
    .map((statement) => `${statement};\n`)
    .join("\n")}`;
}
