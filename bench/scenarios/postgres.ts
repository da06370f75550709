/**
 * @module
 * PostgreSQL: rate-sync's PostgresStore against rate-limiter-flexible's RateLimiterPostgres, both on the
 * `postgres` driver with pools of the same size (rate-limiter-flexible through a `pg`-style adapter), both on
 * logged tables, same fixed window. The raw single-row upsert is the floor a one-statement decision can reach;
 * the raw batched statement (our batch function deciding 64 pre-encoded calls per statement, counted per call)
 * is the floor of batched decisions, so `ours ÷ raw batched` is the library's own overhead. At 64 in flight the
 * p99 time of one call is measured beside the throughput, and the batch sizes our store sent are logged.
 */

import { RateLimiterPostgres } from "rate-limiter-flexible";
import type { LimitParams } from "../../src/algorithms/types.ts";
import { parseConfigObject } from "../../src/config/load.ts";
import type { PostgresStoreConfig } from "../../src/config/types.ts";
import { RateSync } from "../../src/core/rate-sync.ts";
import { DECIDE_BATCH_ARGUMENTS } from "../../src/stores/postgres/batch-sql.ts";
import { toCallArrays } from "../../src/stores/postgres/codec.ts";
import { postgresNames } from "../../src/stores/postgres/identifiers.ts";
import { PostgresStore, postgresBatchStats } from "../../src/stores/postgres/postgres-store.ts";
import type { StoreOp } from "../../src/stores/store.ts";
import { PgStyleClient, pinBackends, rawPostgres } from "../lib/clients.ts";
import { type BenchContext, interleave, interleaveLatency, type Row } from "../lib/compare.ts";
import { type Loaded, latency, loaded as measureLoaded, throughput } from "../lib/measure.ts";
import { configFor, ignore, OPEN_POINTS, spreadKeys, WINDOW_S } from "../lib/setups.ts";
import { type Summary, summarize } from "../lib/stats.ts";
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

/** Calls per statement of the raw batched contender. */
const RAW_BATCH = 64;

/** Measures a contender's throughput and keeps its p99 under load aside (for a row of its own). */
function loaded(
  p99s: Record<string, number[]>,
  name: string,
  run: () => Promise<Loaded>,
): () => Promise<number> {
  return async () => {
    const measured = await run();
    const runs = p99s[name] ?? [];
    runs.push(measured.p99);
    p99s[name] = runs;
    return measured.opsPerSec;
  };
}

function summarizeAll(values: Record<string, number[]>): Record<string, Summary> {
  return Object.fromEntries(Object.entries(values).map(([name, runs]) => [name, summarize(runs)]));
}

/** The batch sizes sent since `before`, by powers of two (`1`, `2`, `3-4`, …), as text. */
function batchSizes(before: readonly number[], after: readonly number[]): string {
  const parts: string[] = [];
  for (let k = 0; k < after.length; k++) {
    const n = (after[k] ?? 0) - (before[k] ?? 0);
    if (n === 0) continue;
    const label = k === 0 ? "1" : k === 1 ? "2" : `${2 ** (k - 1) + 1}-${2 ** k}`;
    parts.push(`${label}: ${n}`);
  }
  return parts.join(", ");
}

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
    // The raw batched statement: our batch function on our table, 64 calls per statement encoded beforehand.
    const names = postgresNames("public", ourTable);
    const types = DECIDE_BATCH_ARGUMENTS.slice(1, -1).split(", ");
    const batchText = `SELECT * FROM ${names.decideBatchFunction}(${types.map((t, i) => `$${i + 1}::${t}`).join(", ")})`;
    const rawParams: LimitParams = { kind: "fixed_window", limit: OPEN_POINTS, windowMs: WINDOW_S * 1000 };
    const encode = (key: (i: number) => string) =>
      toCallArrays(
        Array.from({ length: RAW_BATCH }, (_, i) => ({
          ops: [{ limiterId: "raw-batched", key: key(i), params: rawParams, cost: 1 } satisfies StoreOp],
          maxWaitMs: 0,
        })),
      ) as unknown as never[];
    const hotBatch = encode(() => "hot");
    const spreadBatches = Array.from({ length: REMOTE_KEYS / RAW_BATCH + 1 }, (_, b) =>
      encode((i) => keys[(b * RAW_BATCH + i) % REMOTE_KEYS]!),
    );
    const rawBatched = (params: never[]) => rawSql.unsafe(batchText, params, { prepare: true });
    // Statements in flight so that 64 calls are in flight, as for every other contender.
    const rawInFlight = Math.max(1, IN_FLIGHT / RAW_BATCH);
    await rawBatched(hotBatch);

    ctx.log("postgres: sequential latency, hot key");
    const seq = await interleaveLatency(ctx.runs, {
      "rate-sync": () => latency(() => rs.tryAcquire("hot"), timing),
      "rate-limiter-flexible": () => latency(() => open.consume("hot"), timing),
      "raw upsert": () => latency(() => upsert("hot"), timing),
    });
    ctx.log(`postgres: ${IN_FLIGHT} in flight, ${REMOTE_KEYS} keys`);
    const spreadP99: Record<string, number[]> = {};
    let sizesBefore = postgresBatchStats(store).sizes;
    const parSpread = await interleave(ctx.runs, {
      "rate-sync": loaded(spreadP99, "rate-sync", () =>
        measureLoaded((i) => rs.tryAcquire(keys[i % REMOTE_KEYS]!), IN_FLIGHT, timing),
      ),
      "rate-limiter-flexible": loaded(spreadP99, "rate-limiter-flexible", () =>
        measureLoaded((i) => open.consume(keys[i % REMOTE_KEYS]!).catch(ignore), IN_FLIGHT, timing),
      ),
      "raw upsert": () => throughput((i) => upsert(keys[i % REMOTE_KEYS]!), IN_FLIGHT, timing),
      "raw batched": async () =>
        RAW_BATCH *
        (await throughput((i) => rawBatched(spreadBatches[i % spreadBatches.length]!), rawInFlight, timing)),
    });
    const spreadSizes = batchSizes(sizesBefore, postgresBatchStats(store).sizes);
    ctx.log(`postgres: batch sizes, ${REMOTE_KEYS} keys: ${spreadSizes}`);
    ctx.log(`postgres: ${IN_FLIGHT} in flight, hot key`);
    const hotP99: Record<string, number[]> = {};
    sizesBefore = postgresBatchStats(store).sizes;
    const parHot = await interleave(ctx.runs, {
      "rate-sync": loaded(hotP99, "rate-sync", () =>
        measureLoaded(() => rs.tryAcquire("hot"), IN_FLIGHT, timing),
      ),
      "rate-limiter-flexible": loaded(hotP99, "rate-limiter-flexible", () =>
        measureLoaded(() => open.consume("hot").catch(ignore), IN_FLIGHT, timing),
      ),
      "raw upsert": () => throughput(() => upsert("hot"), IN_FLIGHT, timing),
      "raw batched": async () =>
        RAW_BATCH * (await throughput(() => rawBatched(hotBatch), rawInFlight, timing)),
    });
    const hotSizes = batchSizes(sizesBefore, postgresBatchStats(store).sizes);
    ctx.log(`postgres: batch sizes, hot key: ${hotSizes}`);
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
        note: `${note}; our batch sizes: ${spreadSizes}`,
      },
      {
        section: "postgres",
        scenario: `tryAcquire, ${REMOTE_KEYS / 1000}k keys, ${IN_FLIGHT} in flight`,
        metric: "p99 ms",
        values: summarizeAll(spreadP99),
        note,
      },
      {
        section: "postgres",
        scenario: `tryAcquire, hot key, ${IN_FLIGHT} in flight`,
        metric: "ops/s",
        values: parHot,
        note: `${note}; our batch sizes: ${hotSizes}`,
      },
      {
        section: "postgres",
        scenario: `tryAcquire, hot key, ${IN_FLIGHT} in flight`,
        metric: "p99 ms",
        values: summarizeAll(hotP99),
        note,
      },
    ];
  } finally {
    await rs.close();
    // Our store's schema-version table too (`<table>_schema`), which the store made beside its table.
    for (const table of [ourTable, postgresNames("public", ourTable).versionTable, theirTable, rawTable]) {
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
