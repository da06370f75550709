/**
 * @module
 * Estimate, then settle: `tryAcquire(key, { cost: 10 })` followed by `decision.settle(actual)` with an actual
 * cost of 3 to 7 (so every call refunds part of its estimate), 64 loops in flight, on Redis and on PostgreSQL,
 * on one hot key and over 1,000 keys. The workload of token limits (acquire an estimate, give back what the work
 * did not use): two store calls per call, a decision and a refund. Then the same with a concurrency slot
 * (`max_concurrent`): `tryAcquire(key)`, then `decision.lease.release()`. Prints calls per second (median, min
 * and max of the runs) and how the store batched the refunds and releases when it counts them.
 *
 * `npx tsx bench/settle.ts [--runs=5] [--duration=1000] [--only=redis,postgres]`; `REDIS_URL` and `DATABASE_URL`
 * as for `npm run bench`. Every key and table it creates carries a per-run name and is deleted at the end.
 */

import { randomBytes } from "node:crypto";
import { parseConfigObject } from "../src/config/load.ts";
import type { PostgresStoreConfig, RedisStoreConfig } from "../src/config/types.ts";
import { RateSync } from "../src/core/rate-sync.ts";
import type { TurnBatcherStats } from "../src/stores/batching/turn-batcher.ts";
import { postgresNames } from "../src/stores/postgres/identifiers.ts";
import * as postgresStore from "../src/stores/postgres/postgres-store.ts";
import { RedisStore } from "../src/stores/redis/redis-store.ts";
import { rawPostgres, rawRedis } from "./lib/clients.ts";
import { throughput } from "./lib/measure.ts";
import { summarize } from "./lib/stats.ts";

const IN_FLIGHT = 64;
const KEYS = 1_000;
const ESTIMATE = 10;

const args = process.argv.slice(2);
const option = (name: string, fallback: string) =>
  args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const runs = Number(option("runs", "5"));
const durationMs = Number(option("duration", "1000"));
const only = new Set(option("only", "redis,postgres").split(","));
const runId = randomBytes(4).toString("hex");

/** The config of one store with an open token limit on a template (one state per key). */
function configOf(store: Record<string, unknown>) {
  return parseConfigObject({
    stores: { s: store },
    limiters: {
      "tok:<id>": { rate: "1000000000/h", burst: 1_000_000_000, store: "s" },
      "slot:<id>": { max_concurrent: 1_000, lease: "1h", store: "s" },
    },
  });
}

/** Estimate, then settle: the refund of the unused part. */
function settleOn(rs: RateSync, keys: readonly string[]) {
  return async (i: number) => {
    const decision = await rs.tryAcquire(keys[i % keys.length] as string, { cost: ESTIMATE });
    await decision.settle?.(3 + (i % 5));
  };
}

/** A concurrency slot, then its release. */
function releaseOn(rs: RateSync, keys: readonly string[]) {
  return async (i: number) => {
    const decision = await rs.tryAcquire(keys[i % keys.length] as string);
    await decision.lease?.release();
  };
}

/** Calls per second over runs, and the refund batch shape (when the store counts its refunds). */
async function measure(settle: (i: number) => Promise<void>, stats: (() => TurnBatcherStats) | undefined) {
  await throughput(settle, IN_FLIGHT, { durationMs: 300, warmupMs: 300 });
  const before = stats?.();
  const figures: number[] = [];
  for (let r = 0; r < runs; r++) {
    figures.push(await throughput(settle, IN_FLIGHT, { durationMs, warmupMs: 100 }));
  }
  const after = stats?.();
  const perBatch =
    before === undefined || after === undefined || after.batches === before.batches
      ? "n/a"
      : ((after.items - before.items) / (after.batches - before.batches)).toFixed(1);
  const s = summarize(figures);
  return `${Math.round(s.median)} calls/s (${Math.round(s.min)}–${Math.round(s.max)}), refunds per batch: ${perBatch}`;
}

const hot = ["tok:hot"];
const spread = Array.from({ length: KEYS }, (_, i) => `tok:${i}`);
const slotHot = ["slot:hot"];

/** Every figure of one store. */
async function measureAll(engine: string, rs: RateSync, stats: (() => TurnBatcherStats) | undefined) {
  const at = `${IN_FLIGHT} in flight`;
  console.log(`${engine}, settle, hot key, ${at}: ${await measure(settleOn(rs, hot), stats)}`);
  console.log(`${engine}, settle, ${KEYS} keys, ${at}: ${await measure(settleOn(rs, spread), stats)}`);
  console.log(`${engine}, lease + release, hot key, ${at}: ${await measure(releaseOn(rs, slotHot), stats)}`);
}

if (only.has("redis")) {
  const prefix = `bench_settle_${runId}`;
  const snapshot = configOf({
    engine: "redis",
    url: process.env.REDIS_URL || "redis://127.0.0.1:6379",
    key_prefix: prefix,
  });
  const store = new RedisStore(snapshot.stores.get("s") as RedisStoreConfig);
  const rs = RateSync.fromSnapshot(snapshot, { stores: { s: store } });
  const stats = (store as { refundBatchStats?: () => TurnBatcherStats }).refundBatchStats?.bind(store);
  try {
    await measureAll("redis", rs, stats);
  } finally {
    await rs.close();
    const client = rawRedis(process.env.REDIS_URL || "redis://127.0.0.1:6379");
    let cursor = "0";
    do {
      const [next, names] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (names.length > 0) await client.del(...names);
    } while (cursor !== "0");
    client.disconnect();
  }
}

if (only.has("postgres")) {
  const table = `bench_settle_${runId}`;
  const snapshot = configOf({
    engine: "postgres",
    url: process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/test",
    table_name: table,
    pool_max_size: 10,
  });
  const config = snapshot.stores.get("s") as PostgresStoreConfig;
  const url = config.url as string;
  const store = new postgresStore.PostgresStore(config);
  const rs = RateSync.fromSnapshot(snapshot, { stores: { s: store } });
  const counted = (postgresStore as { postgresRefundBatchStats?: (s: unknown) => TurnBatcherStats })
    .postgresRefundBatchStats;
  const stats = counted === undefined ? undefined : () => counted(store);
  try {
    await measureAll("postgres", rs, stats);
  } finally {
    await rs.close();
    // The table and the functions named after it: this run's own objects only.
    const names = postgresNames(config.schemaName, config.tableName);
    const sql = await rawPostgres(url, 1, "rate-sync-bench");
    for (const name of [names.table, names.versionTable]) await sql.unsafe(`DROP TABLE IF EXISTS ${name}`);
    for (const fn of names.functions) await sql.unsafe(`DROP FUNCTION IF EXISTS ${fn}`);
    await sql.end({ timeout: 1 });
  }
}
