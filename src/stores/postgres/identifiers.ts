/**
 * @module
 * Names of everything the PostgreSQL store creates, quoted so that any `schema_name` / `table_name` from a config
 * file is only ever an identifier, never SQL.
 */

import { createHash } from "node:crypto";

/** PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1); two long names could then silently collide. */
const MAX_IDENTIFIER_BYTES = 63;

/**
 * Quotes an identifier for PostgreSQL: wraps it in double quotes and doubles the quotes inside, so any text
 * (spaces, capitals, quotes, semicolons) names exactly that object.
 *
 * @example quoteIdent('my "odd" table') // '"my ""odd"" table"'
 */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * The name of an object derived from the table (`<table>_<suffix>`). When it would pass PostgreSQL's 63-byte
 * limit, the table part is shortened and a hash of the full name keeps it unique, since PostgreSQL would otherwise
 * truncate it and two tables could share (and overwrite) each other's functions.
 */
export function derivedName(table: string, suffix: string): string {
  const plain = `${table}_${suffix}`;
  if (Buffer.byteLength(plain, "utf8") <= MAX_IDENTIFIER_BYTES) return plain;
  const hash = createHash("sha256").update(table).digest("hex").slice(0, 12);
  const tail = `_${hash}_${suffix}`;
  let head = table;
  // Shorten by code points so a multi-byte character is never cut in half.
  while (Buffer.byteLength(head + tail, "utf8") > MAX_IDENTIFIER_BYTES)
    head = [...head].slice(0, -1).join("");
  return head + tail;
}

/** Where the store's objects live, as quoted, schema-qualified SQL names. */
export interface PostgresNames {
  /** The state table, e.g. `"public"."rate_sync_state"`. */
  readonly table: string;
  /** The table of applied schema versions (`<table>_schema`). */
  readonly versionTable: string;
  /** The index on `expires_at` (unqualified: an index always lives in its table's schema). */
  readonly expiryIndex: string;
  /** The pure function holding the math of every rate algorithm (no table access). */
  readonly rateFunction: string;
  /** The function that decides one member of a batch on a locked row (rate math or concurrency). */
  readonly stepFunction: string;
  /** The function that decides a whole batch in one statement: locks, clock, all-or-nothing. */
  readonly decideFunction: string;
  /** The lean function that decides (or peeks) a single rate op in one statement. */
  readonly decideOneFunction: string;
  /** The function that decides many calls (each one decision) in one statement, in arrival order. */
  readonly decideBatchFunction: string;
  /** The function that gives back what an allowed decision consumed. */
  readonly refundFunction: string;
  /** The function that extends a live lease. */
  readonly renewFunction: string;
  /** Every function above, callers before callees (the order to drop them in). */
  readonly functions: readonly string[];
  /** The schema, quoted. */
  readonly schema: string;
  /** `schema.table` unquoted, for messages and the advisory lock key. */
  readonly display: string;
}

/** Builds every name from the config's `schema_name` and `table_name`. */
export function postgresNames(schemaName: string, tableName: string): PostgresNames {
  const schema = quoteIdent(schemaName);
  const qualified = (name: string) => `${schema}.${quoteIdent(name)}`;
  const fn = (suffix: string) => qualified(derivedName(tableName, suffix));
  const functions = {
    decideBatchFunction: fn("decide_batch"),
    decideFunction: fn("decide"),
    decideOneFunction: fn("decide_one"),
    stepFunction: fn("step"),
    rateFunction: fn("rate"),
    refundFunction: fn("refund"),
    renewFunction: fn("renew"),
  };
  return {
    table: qualified(tableName),
    versionTable: qualified(derivedName(tableName, "schema")),
    expiryIndex: quoteIdent(derivedName(tableName, "expires_at")),
    ...functions,
    functions: Object.values(functions),
    schema,
    display: `${schemaName}.${tableName}`,
  };
}
