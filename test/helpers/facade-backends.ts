/**
 * @module
 * The stores a facade test runs on, each as a `[stores.main]` table with what empties and removes it: memory,
 * a real Redis (its own key prefix), a real PostgreSQL (its own table) and a SQLite file of its own. Redis and
 * PostgreSQL are left out, loudly, outside CI when they cannot be reached (see `stores.ts`).
 */

import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { adminSql, dropStoreObjects } from "../stores/postgres/setup.ts";
import { deleteByPrefix } from "../stores/redis/setup.ts";
import { requirePostgres, requireRedis, uniqueName } from "./stores.ts";

/** One store to run on: its `[stores.main]` table and what removes what the tests left. */
export interface Backend {
  readonly name: "memory" | "redis" | "postgres" | "sqlite";
  readonly store: Record<string, unknown>;
  /** Removes every state the last test left, directly in the store (not through the facade). */
  empty(): Promise<void>;
  /** Removes what the tests made (keys, the table, the file). */
  cleanup(): Promise<void>;
}

/** Every store a facade test runs on; `name` names the Redis prefix, the PostgreSQL table and the SQLite file. */
export async function facadeBackends(name: string): Promise<Backend[]> {
  const redis = await requireRedis();
  const postgres = await requirePostgres();
  const backends: Backend[] = [
    { name: "memory", store: { engine: "memory" }, empty: async () => {}, cleanup: async () => {} },
  ];
  if (redis.available) {
    const prefix = uniqueName(name);
    const cleanup = async () => {
      const { Redis } = await import("ioredis");
      const raw = new Redis(redis.url);
      try {
        await deleteByPrefix(raw, prefix);
      } finally {
        raw.disconnect();
      }
    };
    backends.push({
      name: "redis",
      store: { engine: "redis", url: redis.url, key_prefix: prefix },
      empty: cleanup,
      cleanup,
    });
  }
  if (postgres.available) {
    const table = uniqueName(name);
    backends.push({
      name: "postgres",
      store: { engine: "postgres", url: postgres.url, table_name: table },
      async empty() {
        const sql = await adminSql(postgres.url);
        try {
          await sql.unsafe(`DELETE FROM "${table}"`).catch(() => {});
        } finally {
          await sql.end({ timeout: 1 });
        }
      },
      cleanup: () => dropStoreObjects({ schemaName: "public", tableName: table }, postgres.url),
    });
  }
  const dir = mkdtempSync(join(tmpdir(), `rate-sync-${name}-`));
  const path = join(dir, "state.db");
  const table = `${name}_state`;
  backends.push({
    name: "sqlite",
    store: { engine: "sqlite", path, table_name: table },
    async empty() {
      const Database = createRequire(import.meta.url)("better-sqlite3") as typeof import("better-sqlite3");
      const db = new Database(path);
      try {
        db.exec(`DELETE FROM "${table}"`);
      } catch {
        // No table yet: nothing to empty.
      } finally {
        db.close();
      }
    },
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  });
  return backends;
}
