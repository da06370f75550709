/**
 * @module
 * The SQLite store: exact shared limits for the processes of one host, kept in a database file.
 */
export { SqliteStore, type SqliteStoreOptions, type SqliteStoreStats } from "./sqlite-store.ts";
