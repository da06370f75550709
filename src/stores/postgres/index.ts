/**
 * @module
 * The PostgreSQL store: state in one table, one statement per decision on the server's clock.
 */

export { type PostgresDdlOptions, postgresDdl } from "./ddl.ts";
export { PostgresStore, type PostgresStoreOptions, type PostgresStoreStats } from "./postgres-store.ts";
