/**
 * @module
 * PostgreSQL: rate-sync's PostgresStore against rate-limiter-flexible's RateLimiterPostgres, both on the
 * `postgres` driver with pools of the same size (rate-limiter-flexible through a `pg`-style adapter), both on
 * logged tables, same fixed window. The raw single-row upsert is the floor a one-statement decision can reach.
 */

import { RateLimiterPostgres } from "rate-limiter-flexible";
import { parseConfigObject } from "../../src/config/load.ts";
import type { PostgresStoreConfig } from "../../src/config/types.ts";
import { RateSync } from "../../src/core/rate-sync.ts";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.ts";
import { PgStyleClient, pinBackends, rawPostgres } from "../lib/clients.ts";
import { type BenchContext, interleave, interleaveLatency, type Row } from "../lib/compare.ts";
import { latency, throughput } from "../lib/measure.ts";
import { configFor, ignore, OPEN_POINTS, spreadKeys, WINDOW_S } from "../lib/setups.ts";
import { IN_FLIGHT } from "./physical.ts";
import { REMOTE_KEYS } from "./redis.ts";

/** Connections per pool, for every contender. */
export const PG_POOL = 10;
/** `application_name` of the bench's connections (used to pin their server processes). */
export const PG_APPLICATION_NAMES = [
  "rate-sync-bench",
  "rate-sync-bench-rlf",
  "rate-sync-bench-raw",
] as const;

export async function postgresScenarios(ctx: BenchContext): Promise<Row[]> {
  const timing = { durationMs: ctx.durationMs, warmupMs: ctx.warmupMs };
  const ourTable = `bench_rs_${ctx.runId}`;
  const theirTable = `bench_rlf_${ctx.runId}`;
  const rawTable = `bench_upsert_${ctx.runId}`;
  const snapshot = parseConfigObject(
    configFor({
      engine: "postgres",
      url: ctx.databaseUrl,
      table_name: ourTable,
      auto_create: true,
      pool_max_size: PG_POOL,
      timeout: "5s",
    }),
  );
  const store = new PostgresStore(snapshot.stores.get("s") as PostgresStoreConfig, {
    applicationName: PG_APPLICATION_NAMES[0],
  });
  const rs = RateSync.fromSnapshot(snapshot, { stores: { s: store } });
  const theirSql = await rawPostgres(ctx.databaseUrl, PG_POOL, PG_APPLICATION_NAMES[1]);
  const rawSql = await rawPostgres(ctx.databaseUrl, PG_POOL, PG_APPLICATION_NAMES[2]);
  const client = new PgStyleClient(theirSql);
  const created = (limiter: (cb: (error?: unknown) => void) => RateLimiterPostgres) =>
    new Promise<RateLimiterPostgres>((resolve, reject) => {
      const made = limiter((error) => (error ? reject(error) : resolve(made)));
    });
  const keys = spreadKeys(REMOTE_KEYS);
  const note = `fixed window, ${WINDOW_S}s; RateLimiterPostgres points/duration equal; pools of ${PG_POOL}`;
  try {
    const open = await created(
      (cb) =>
        new RateLimiterPostgres(
          {
            storeClient: client,
            storeType: "client",
            tableName: theirTable,
            points: OPEN_POINTS,
            duration: WINDOW_S,
          },
          cb,
        ),
    );
    await rawSql.unsafe(`CREATE TABLE ${rawTable} (k text PRIMARY KEY, v bigint NOT NULL)`);
    const upsertText = `INSERT INTO ${rawTable} AS t (k, v) VALUES ($1, 1) ON CONFLICT (k) DO UPDATE SET v = t.v + 1 RETURNING v`;
    const upsert = (key: string) => rawSql.unsafe(upsertText, [key], { prepare: true });
    await Promise.all([rs.tryAcquire("hot"), open.consume("hot"), upsert("hot")]);
    // Open every connection of every pool, then move their server processes to the server core.
    await Promise.all([
      ...Array.from({ length: IN_FLIGHT }, () => rs.tryAcquire("hot")),
      ...Array.from({ length: IN_FLIGHT }, () => open.consume("hot")),
    ]);
    await pinBackends(rawSql, PG_APPLICATION_NAMES, ctx.pinServer, IN_FLIGHT);

    ctx.log("postgres: sequential latency, hot key");
    const seq = await interleaveLatency(ctx.runs, {
      "rate-sync": () => latency(() => rs.tryAcquire("hot"), timing),
      "rate-limiter-flexible": () => latency(() => open.consume("hot"), timing),
      "raw upsert": () => latency(() => upsert("hot"), timing),
    });
    ctx.log(`postgres: ${IN_FLIGHT} in flight, ${REMOTE_KEYS} keys`);
    const parSpread = await interleave(ctx.runs, {
      "rate-sync": () => throughput((i) => rs.tryAcquire(keys[i % REMOTE_KEYS]!), IN_FLIGHT, timing),
      "rate-limiter-flexible": () =>
        throughput((i) => open.consume(keys[i % REMOTE_KEYS]!).catch(ignore), IN_FLIGHT, timing),
      "raw upsert": () => throughput((i) => upsert(keys[i % REMOTE_KEYS]!), IN_FLIGHT, timing),
    });
    ctx.log(`postgres: ${IN_FLIGHT} in flight, hot key`);
    const parHot = await interleave(ctx.runs, {
      "rate-sync": () => throughput(() => rs.tryAcquire("hot"), IN_FLIGHT, timing),
      "rate-limiter-flexible": () => throughput(() => open.consume("hot").catch(ignore), IN_FLIGHT, timing),
      "raw upsert": () => throughput(() => upsert("hot"), IN_FLIGHT, timing),
    });
    return [
      {
        section: "postgres",
        scenario: "tryAcquire, hot key, sequential",
        metric: "p50 ms",
        values: seq.p50,
        note,
      },
      {
        section: "postgres",
        scenario: "tryAcquire, hot key, sequential",
        metric: "p99 ms",
        values: seq.p99,
        note,
      },
      {
        section: "postgres",
        scenario: `tryAcquire, ${REMOTE_KEYS / 1000}k keys, ${IN_FLIGHT} in flight`,
        metric: "ops/s",
        values: parSpread,
        note,
      },
      {
        section: "postgres",
        scenario: `tryAcquire, hot key, ${IN_FLIGHT} in flight`,
        metric: "ops/s",
        values: parHot,
        note,
      },
    ];
  } finally {
    await rs.close();
    for (const table of [ourTable, theirTable, rawTable]) {
      await rawSql.unsafe(`DROP TABLE IF EXISTS ${table}`).catch(() => {});
    }
    // Our store's functions are named after its table.
    await rawSql
      .unsafe(
        `SELECT format('DROP FUNCTION %s', oid::regprocedure) AS stmt FROM pg_proc WHERE proname LIKE '${ourTable}%'`,
      )
      .then(async (rows) => {
        for (const row of rows) await rawSql.unsafe(String((row as unknown as { stmt: unknown }).stmt));
      })
      .catch(() => {});
    await Promise.all([theirSql.end({ timeout: 1 }), rawSql.end({ timeout: 1 })]);
  }
}
