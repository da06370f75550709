/**
 * @module
 * Overrides in PostgreSQL: a table of records, a one-row version table and a history table beside the store's
 * state table (`<table_name>_overrides`, `…_overrides_version`, `…_overrides_history`), and `LISTEN/NOTIFY`.
 * A write is one transaction that locks the version row (writers take turns), checks the bound, writes the
 * record and the history and notifies; the notification leaves at commit. The listener has its own
 * connection; after a failed check (the server or the network was down) it is opened afresh, and its
 * `onlisten` is the cue to catch up.
 */

import { createHash } from "node:crypto";
import type { PostgresStoreConfig } from "../config/types.ts";
import { InvalidArgumentError } from "../errors.ts";
import { loadDriver, type PostgresFactory, type Sql } from "../stores/postgres/driver.ts";
import { derivedName, quoteIdent } from "../stores/postgres/identifiers.ts";
import { decodeChange } from "./record.ts";
import {
  changeOf,
  type OverrideSource,
  type SourceListener,
  type SourceWrite,
  type StoredOverrides,
  type WriteResult,
} from "./source.ts";
import type { OverrideChange } from "./types.ts";

/** Quoted names of the override tables of a store, and its notification channel. */
export function postgresOverrideNames(
  schemaName: string,
  tableName: string,
): {
  data: string;
  version: string;
  history: string;
  channel: string;
  lock: string;
} {
  const qualified = (suffix: string) =>
    `${quoteIdent(schemaName)}.${quoteIdent(derivedName(tableName, suffix))}`;
  const hash = createHash("sha256").update(`${schemaName}.${tableName}`).digest("hex").slice(0, 16);
  return {
    data: qualified("overrides"),
    version: qualified("overrides_version"),
    history: qualified("overrides_history"),
    channel: `rate_sync_overrides_${hash}`,
    lock: `rate-sync overrides ${schemaName}.${tableName}`,
  };
}

/** The DDL of the override tables (run under `auto_create`; printed by `rate-sync sql`). */
export function postgresOverridesDdl(
  config: Pick<PostgresStoreConfig, "schemaName" | "tableName">,
): string[] {
  const names = postgresOverrideNames(config.schemaName, config.tableName);
  return [
    `CREATE TABLE IF NOT EXISTS ${names.data} (id text PRIMARY KEY, record text NOT NULL, updated_at timestamptz NOT NULL DEFAULT clock_timestamp())`,
    `CREATE TABLE IF NOT EXISTS ${names.version} (one boolean PRIMARY KEY DEFAULT true CHECK (one), version bigint NOT NULL)`,
    `INSERT INTO ${names.version} (one, version) VALUES (true, 0) ON CONFLICT DO NOTHING`,
    `CREATE TABLE IF NOT EXISTS ${names.history} (version bigint PRIMARY KEY, change text NOT NULL)`,
  ];
}

/** A {@link OverrideSource} on a PostgreSQL store. */
export class PostgresSource implements OverrideSource {
  readonly #config: PostgresStoreConfig;
  readonly #maxOverrides: number;
  readonly #historySize: number;
  readonly #names: ReturnType<typeof postgresOverrideNames>;
  #driver: Promise<PostgresFactory> | undefined;
  #sql: Sql | undefined;
  #ready: Promise<Sql> | undefined;
  #listenSql: Sql | undefined;
  #listener: SourceListener | undefined;
  /** Set when a call failed: the listening connection is opened afresh once calls succeed again. */
  #broken = false;
  #closed = false;

  constructor(config: PostgresStoreConfig, maxOverrides: number, historySize: number) {
    this.#config = config;
    this.#maxOverrides = maxOverrides;
    this.#historySize = historySize;
    this.#names = postgresOverrideNames(config.schemaName, config.tableName);
  }

  #open(max: number): Promise<Sql> {
    this.#driver ??= loadDriver(this.#config.id);
    // Validation refuses an overrides store without a url (one on an injected client).
    const url = this.#config.url ?? "";
    return this.#driver.then((postgres) =>
      postgres(url, {
        max,
        connect_timeout: Math.max(
          0.001,
          (this.#config.socketConnectTimeoutMs ?? this.#config.timeoutMs) / 1000,
        ),
        idle_timeout: 5,
        // As the store's pool (`pool.ts`): a reset during postgres.js's type fetch would end the process.
        fetch_types: false,
        onnotice: () => {},
        connection: { application_name: "rate-sync overrides" },
      }),
    );
  }

  /** The pool, created (and the tables ensured, under `auto_create`) on first use; retried after a failure. */
  #pool(): Promise<Sql> {
    if (this.#ready === undefined) {
      const ready = (async () => {
        this.#sql ??= await this.#open(2);
        const sql = this.#sql;
        if (this.#config.autoCreate) {
          await sql.begin(async (tx) => {
            await tx.unsafe("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))", [
              this.#names.lock,
            ]);
            for (const statement of postgresOverridesDdl(this.#config)) await tx.unsafe(statement);
          });
        }
        return sql;
      })();
      this.#ready = ready;
      ready.catch(() => {
        if (this.#ready === ready) this.#ready = undefined;
      });
    }
    return this.#ready;
  }

  /** Runs `task` on the pool; a failure marks the listener for renewal. */
  async #run<T>(task: (sql: Sql) => Promise<T>): Promise<T> {
    try {
      const result = await task(await this.#pool());
      if (this.#broken) {
        this.#broken = false;
        this.#relisten();
      }
      return result;
    } catch (error) {
      this.#broken = true;
      throw error;
    }
  }

  read(): Promise<StoredOverrides> {
    return this.#run(async (sql) => {
      // One statement: the set and its version from one snapshot.
      const rows = await sql.unsafe(
        `SELECT v.version::text AS version, o.id, o.record FROM ${this.#names.version} v LEFT JOIN ${this.#names.data} o ON true`,
      );
      const entries = new Map<string, string>();
      let version = 0;
      for (const row of rows) {
        version = Number(row.version);
        if (typeof row.id === "string") entries.set(row.id, row.record as string);
      }
      return { version, entries };
    });
  }

  version(): Promise<number> {
    return this.#run(async (sql) => {
      const [row] = await sql.unsafe(`SELECT version::text AS version FROM ${this.#names.version}`);
      return Number(row?.version ?? 0);
    });
  }

  write(change: SourceWrite): Promise<WriteResult> {
    const names = this.#names;
    const id = change.action === "set" ? change.record.id : change.id;
    return this.#run((sql) =>
      sql.begin(async (tx) => {
        const [row] = await tx.unsafe(`SELECT version::text AS version FROM ${names.version} FOR UPDATE`);
        let version = Number(row?.version ?? 0);
        if (change.action === "set") {
          const [count] = await tx.unsafe(
            `SELECT count(*)::int AS n, bool_or(id = $1) AS present FROM ${names.data}`,
            [id],
          );
          if (count?.present !== true && Number(count?.n ?? 0) >= this.#maxOverrides) {
            throw new InvalidArgumentError(
              `override "${id}" refused: ${this.#maxOverrides} overrides exist already (max_overrides)`,
            );
          }
          await tx.unsafe(
            `INSERT INTO ${names.data} (id, record) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET record = excluded.record, updated_at = clock_timestamp()`,
            [id, change.json],
          );
        } else {
          const [current] = await tx.unsafe(`SELECT record FROM ${names.data} WHERE id = $1`, [id]);
          if (current === undefined) return { version, changed: false };
          if (change.action === "expire") {
            let expiresAt: unknown;
            try {
              expiresAt = (JSON.parse(current.record as string) as { expiresAt?: unknown }).expiresAt;
            } catch {
              expiresAt = undefined;
            }
            // Set again meanwhile (another expiry, or none): not this expiry's to remove.
            if (expiresAt !== change.expiresAt) return { version, changed: false };
          }
          await tx.unsafe(`DELETE FROM ${names.data} WHERE id = $1`, [id]);
        }
        version++;
        await tx.unsafe(`UPDATE ${names.version} SET version = $1`, [version]);
        if (this.#historySize > 0) {
          await tx.unsafe(`INSERT INTO ${names.history} (version, change) VALUES ($1, $2)`, [
            version,
            JSON.stringify(changeOf(change, version)),
          ]);
          await tx.unsafe(`DELETE FROM ${names.history} WHERE version <= $1`, [version - this.#historySize]);
        }
        await tx.unsafe("SELECT pg_notify($1, $2)", [names.channel, String(version)]);
        return { version, changed: true };
      }),
    );
  }

  history(limit: number): Promise<OverrideChange[]> {
    return this.#run(async (sql) => {
      const rows = await sql.unsafe(
        `SELECT change FROM ${this.#names.history} ORDER BY version DESC LIMIT $1`,
        [limit],
      );
      return rows.map((row) => decodeChange(row.change)).filter((c): c is OverrideChange => c !== undefined);
    });
  }

  async listen(listener: SourceListener): Promise<void> {
    this.#listener = listener;
    await this.#pool().catch(() => {
      // The tables may not exist yet: the first successful call makes them and listens then.
      this.#broken = true;
    });
    if (!this.#broken) await this.#startListening();
  }

  /** Opens a fresh listening connection (the old one may have died with the network). */
  #relisten(): void {
    const old = this.#listenSql;
    this.#listenSql = undefined;
    old?.end({ timeout: 0 }).catch(() => {});
    this.#startListening().catch(() => {
      this.#broken = true;
    });
  }

  async #startListening(): Promise<void> {
    const listener = this.#listener;
    if (listener === undefined || this.#closed) return;
    const sql = await this.#open(1);
    this.#listenSql = sql;
    // `onlisten` runs on every (re)established LISTEN: messages may have been missed meanwhile.
    await sql.listen(
      this.#names.channel,
      (payload) => {
        const version = Number(payload);
        listener.onNotify(Number.isFinite(version) ? version : undefined);
      },
      () => listener.onConnect(),
    );
    if (this.#closed) await sql.end({ timeout: 0 }).catch(() => {});
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const ends = [this.#listenSql, this.#sql].map((sql) => sql?.end({ timeout: 1 }).catch(() => {}));
    this.#listenSql = undefined;
    this.#sql = undefined;
    await Promise.all(ends);
  }
}
