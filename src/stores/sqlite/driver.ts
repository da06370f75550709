/**
 * @module
 * Loads the optional `better-sqlite3` package on first use, so installing rate-sync never requires it and a
 * store that needs it fails with the same {@link StoreUnavailableError} as a missing `ioredis` or `postgres`.
 *
 * Why `require` and not `import()`: the store decides synchronously (it is what lets `tryAcquireSync` work on
 * SQLite), so its first call cannot wait for a promise. better-sqlite3 is a CommonJS package with a native
 * addon; `createRequire` loads it the same way from the ESM and the CommonJS build.
 */

import { createRequire } from "node:module";
import type BetterSqlite3 from "better-sqlite3";
import { StoreUnavailableError } from "../../errors.ts";

/** The package's name, as the error and the install command spell it. */
export const SQLITE_PACKAGE = "better-sqlite3";

/** An open database of better-sqlite3. */
export type SqliteDatabase = BetterSqlite3.Database;

/** better-sqlite3's `Database` constructor, as `require("better-sqlite3")` yields it. */
export type SqliteDatabaseConstructor = typeof BetterSqlite3;

/** How the driver is loaded (tests replace it to simulate a missing package). */
export type LoadSqliteDriver = () => SqliteDatabaseConstructor;

/** `require("better-sqlite3")`, resolved from this package's own location (where a peer is installed). */
export const requireSqliteDriver: LoadSqliteDriver = () =>
  createRequire(import.meta.url)(SQLITE_PACKAGE) as SqliteDatabaseConstructor;

/**
 * Loads better-sqlite3, or throws `StoreUnavailableError(storeId, "better-sqlite3")` when it is not installed
 * (or its native addon cannot load: the cause says which).
 */
export function loadSqliteDriver(storeId: string, load: LoadSqliteDriver): SqliteDatabaseConstructor {
  let loaded: unknown;
  try {
    loaded = load();
  } catch (error) {
    throw new StoreUnavailableError(storeId, SQLITE_PACKAGE, { cause: error });
  }
  // CommonJS `module.exports = Database`; accept a namespace with a default export too (a bundler's shape).
  const database = (loaded as { default?: unknown }).default ?? loaded;
  if (typeof database !== "function") throw new StoreUnavailableError(storeId, SQLITE_PACKAGE);
  return database as SqliteDatabaseConstructor;
}
