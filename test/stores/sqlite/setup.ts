/**
 * @module
 * Temporary SQLite database files for the SQLite store tests: one directory per test file under the system's
 * temp directory, removed with everything in it (the WAL and shared-memory files included).
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SqliteStoreConfig } from "../../../src/config/types.ts";

/** A temp directory and the database files in it. */
export interface TempDatabases {
  readonly dir: string;
  /** A config for a fresh database file `<name>.db` in the directory. */
  config(name: string, overrides?: Partial<SqliteStoreConfig>): SqliteStoreConfig;
  /** Removes the directory and every file in it. */
  remove(): void;
}

/** Makes a temp directory named after `label`. */
export function tempDatabases(label: string): TempDatabases {
  const dir = mkdtempSync(join(tmpdir(), `rate-sync-${label}-`));
  return {
    dir,
    config: (name, overrides = {}) => ({
      id: "local",
      engine: "sqlite",
      path: join(dir, `${name}.db`),
      tableName: "rate_sync_state",
      busyTimeoutMs: 5_000,
      ...overrides,
    }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
