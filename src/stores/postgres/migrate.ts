/**
 * @module
 * Runs the migrations of `migrations.ts` on a database: what `auto_create` does when a store starts and what
 * `rate-sync migrate` does on demand.
 */

import { finishingStatements, type PostgresDdlOptions, recordVersionSql, schemaStatements } from "./ddl.ts";
import type { Sql } from "./driver.ts";
import { postgresNames } from "./identifiers.ts";
import { MIGRATIONS, type Migration, readSchemaState, schemaTooNew } from "./migrations.ts";

/** What a migration run did (or, dry, would do). */
export interface MigrationResult {
  /** The version found. */
  readonly from: number;
  /** The version the database is at afterwards (dry: would be). */
  readonly to: number;
  /** The migrations applied (dry: to apply), in order. */
  readonly applied: readonly Migration[];
  /** Every statement run (dry: to run), in order. */
  readonly statements: readonly string[];
}

/** How {@link migrateSchema} runs. */
export interface MigrateOptions {
  /** The store's id, for errors. */
  readonly storeId: string;
  /** Work out the statements, run none of them. @default false */
  readonly dryRun?: boolean;
  /** The migrations to apply. Tests pass a longer list to exercise an upgrade. @default MIGRATIONS */
  readonly migrations?: readonly Migration[];
}

/**
 * Brings the store's schema to the last version of `migrations`, in one transaction under a transaction-scoped
 * advisory lock on the table's name: several processes starting at once apply it once (whoever comes second
 * finds it done), and a failure leaves the database as it was. A table made before versions were recorded is
 * recorded as version 1 first. The functions are replaced after the migrations, every run.
 * @throws StoreError (nothing changed) when the database is at a newer version than `migrations` reach.
 */
export async function migrateSchema(
  sql: Pick<Sql, "begin">,
  config: PostgresDdlOptions,
  options: MigrateOptions,
): Promise<MigrationResult> {
  const names = postgresNames(config.schemaName, config.tableName);
  const migrations = options.migrations ?? MIGRATIONS;
  const target = migrations.at(-1)?.version ?? 0;
  const result = await sql.begin(async (tx) => {
    // IF NOT EXISTS on objects that exist raises notices: not worth a line in an application's log.
    await tx.unsafe("SET LOCAL client_min_messages TO warning");
    // CREATE … IF NOT EXISTS and CREATE OR REPLACE FUNCTION are not safe against each other (duplicate catalog
    // rows, "tuple concurrently updated"): one process at a time, and the second finds the work done.
    await tx.unsafe("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))", [
      `rate-sync ddl ${names.display}`,
    ]);
    const state = await readSchemaState(tx, names);
    if (state.version > target) throw schemaTooNew(options.storeId, names, state.version, target);
    const pending = migrations.filter((migration) => migration.version > state.version);
    const statements = schemaStatements(config);
    if (!state.recorded && state.version > 0) {
      statements.push(recordVersionSql(names, state.version, "found without a recorded version"));
    }
    for (const migration of pending) {
      statements.push(
        ...migration.statements(config),
        recordVersionSql(names, migration.version, migration.description),
      );
    }
    statements.push(...finishingStatements(config, migrations));
    if (options.dryRun !== true) for (const statement of statements) await tx.unsafe(statement);
    return { from: state.version, to: target, applied: pending, statements };
  });
  return result as MigrationResult;
}
