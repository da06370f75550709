/**
 * @module
 * Decisions on a SQLite file: rate-sync's SQLite store against rate-limiter-flexible's RateLimiterSQLite on
 * better-sqlite3, same fixed window, same keys, one call at a time (SQLite decides in the process: there is
 * nothing to overlap). Both databases are files in the system's temp directory with the same settings (WAL,
 * `synchronous = NORMAL`), removed at the end. `tryAcquireSync` is measured in a plain loop beside them.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RateLimiterSQLite } from "rate-limiter-flexible";
import { type BenchContext, interleave, type Row } from "../lib/compare.ts";
import { throughput, throughputSync } from "../lib/measure.ts";
import { ignore, OPEN_POINTS, rateSyncFor, spreadKeys, WINDOW_S } from "../lib/setups.ts";

/** Keys of the spread scenario. */
export const SQLITE_KEYS = 10_000;

const Database = createRequire(import.meta.url)("better-sqlite3") as typeof import("better-sqlite3");

/** A rate-limiter-flexible limiter on its own better-sqlite3 file, its table created before it is used. */
async function flexible(path: string, points: number, tableName: string): Promise<RateLimiterSQLite> {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  return new Promise((resolve, reject) => {
    const limiter: RateLimiterSQLite = new RateLimiterSQLite(
      { storeClient: db, storeType: "better-sqlite3", tableName, points, duration: WINDOW_S },
      (error?: unknown) => (error === undefined || error === null ? resolve(limiter) : reject(error)),
    );
  });
}

export async function sqliteScenarios(ctx: BenchContext): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), "rate-sync-bench-"));
  const timing = { durationMs: ctx.durationMs, warmupMs: ctx.warmupMs };
  const rs = rateSyncFor({ engine: "sqlite", path: join(dir, "rate-sync.db") });
  const keys = spreadKeys(SQLITE_KEYS);
  const note = `fixed window, ${WINDOW_S}s; RateLimiterSQLite (better-sqlite3) points/duration equal; both WAL, synchronous = NORMAL`;
  try {
    const open = await flexible(join(dir, "rlf.db"), OPEN_POINTS, "rlf_open");
    const closed = await flexible(join(dir, "rlf.db"), 1, "rlf_closed");
    ctx.log("sqlite: hot key");
    const hot = await interleave(ctx.runs, {
      "rate-sync": () => throughput(() => rs.tryAcquire("hot"), 1, timing),
      "rate-limiter-flexible": () => throughput(() => open.consume("hot"), 1, timing),
      sync: () => throughputSync(() => rs.tryAcquireSync("hot"), timing),
    });
    ctx.log(`sqlite: ${SQLITE_KEYS / 1000}k keys`);
    const spread = await interleave(ctx.runs, {
      "rate-sync": () => throughput((i) => rs.tryAcquire(keys[i % SQLITE_KEYS]!), 1, timing),
      "rate-limiter-flexible": () => throughput((i) => open.consume(keys[i % SQLITE_KEYS]!), 1, timing),
      sync: () => throughputSync((i) => rs.tryAcquireSync(keys[i % SQLITE_KEYS]!), timing),
    });
    ctx.log("sqlite: denied path");
    await rs.tryAcquire("denied");
    await closed.consume("denied").catch(ignore);
    const denied = await interleave(ctx.runs, {
      "rate-sync": () => throughput(() => rs.tryAcquire("denied"), 1, timing),
      "rate-limiter-flexible": () => throughput(() => closed.consume("denied").catch(ignore), 1, timing),
    });
    const asyncOf = ({ sync: _, ...rest }: Row["values"]) => rest;
    const syncOf = (values: Row["values"]) => ({
      "rate-sync": values.sync!,
      "rate-limiter-flexible": values["rate-limiter-flexible"]!,
    });
    const syncNote = `${note}; tryAcquireSync in a plain loop, rate-limiter-flexible's consume awaited`;
    return [
      { section: "sqlite", scenario: "tryAcquire, hot key", metric: "ops/s", values: asyncOf(hot), note },
      {
        section: "sqlite",
        scenario: `tryAcquire, ${SQLITE_KEYS / 1000}k keys`,
        metric: "ops/s",
        values: asyncOf(spread),
        note,
      },
      {
        section: "sqlite",
        scenario: "tryAcquireSync, hot key",
        metric: "ops/s",
        values: syncOf(hot),
        note: syncNote,
      },
      {
        section: "sqlite",
        scenario: `tryAcquireSync, ${SQLITE_KEYS / 1000}k keys`,
        metric: "ops/s",
        values: syncOf(spread),
        note: syncNote,
      },
      {
        section: "sqlite",
        scenario: "tryAcquire, denied",
        metric: "ops/s",
        values: denied,
        note: "limit 1 per window, already used; rate-limiter-flexible denies by rejecting",
      },
    ];
  } finally {
    await rs.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
