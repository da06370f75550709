/**
 * @module
 * The SQLite table of a store, and the connection settings every process sets on open.
 *
 * Layout: one row per state, `(limiter_id, key, tag)` → `value` (the state as JSON, see `codec.ts`) and
 * `expires_at` (epoch ms after which the state no longer constrains anything). A key's concurrency leases are
 * one row too (tag `cc`), like every other state: a decision reads and writes whole states, as the memory store
 * does. `WITHOUT ROWID`: the primary key is the table's one b-tree, so a lookup is one descent, and `reset`
 * (every tag of `(limiter_id, key)`) is a range of it. The expiry index serves the sweep.
 */

/** A table name as an SQL identifier: double-quoted, inner quotes doubled, so any name is only ever a name. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The statements that create the table and its index when they are missing. */
export function sqliteDdl(table: string): string {
  const t = quoteIdentifier(table);
  const index = quoteIdentifier(`${table}_expires_at`);
  return [
    `CREATE TABLE IF NOT EXISTS ${t} (`,
    "  limiter_id TEXT NOT NULL,",
    "  key TEXT NOT NULL,",
    "  tag TEXT NOT NULL,",
    "  value TEXT NOT NULL,",
    "  expires_at REAL NOT NULL,",
    "  PRIMARY KEY (limiter_id, key, tag)",
    ") WITHOUT ROWID;",
    `CREATE INDEX IF NOT EXISTS ${index} ON ${t} (expires_at);`,
  ].join("\n");
}
