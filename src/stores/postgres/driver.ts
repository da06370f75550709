/**
 * @module
 * Loads the optional `postgres` package on first use, so installing rate-sync never requires it and a store
 * that needs it fails with a clear {@link StoreUnavailableError} naming the package.
 */

import type { Options, Sql as PostgresSql } from "postgres";
import { StoreUnavailableError } from "../../errors.ts";

/** A connection pool of the `postgres` package. */
export type Sql = PostgresSql<Record<string, never>>;

/** The `postgres()` factory. */
export type PostgresFactory = (url: string, options: Partial<Options<Record<string, never>>>) => Sql;

/** Imports `postgres`; rejects with `StoreUnavailableError(storeId, "postgres")` when it is not installed. */
export async function loadDriver(storeId: string): Promise<PostgresFactory> {
  let imported: unknown;
  try {
    imported = await import("postgres");
  } catch (error) {
    throw new StoreUnavailableError(storeId, "postgres", { cause: error });
  }
  // The package is ESM with an `export =` declaration: at run time the factory is the default export, while
  // the declaration types the namespace as the factory itself. Accept either shape.
  const factory = (imported as { default?: unknown }).default ?? imported;
  if (typeof factory !== "function") throw new StoreUnavailableError(storeId, "postgres");
  return factory as PostgresFactory;
}
