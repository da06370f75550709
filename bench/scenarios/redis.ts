/**
 * @module
 * Redis: rate-sync's RedisStore against rate-limiter-flexible's RateLimiterRedis (same ioredis package, same
 * fixed window), and against raw `EVALSHA`s of our own scripts with pre-encoded arguments — the floor of what
 * our store can cost, since the script itself is the part the store cannot skip:
 * - "raw EVALSHA (our script)": one call per run of the lean fixed window script, what the store sends for a
 *   lone call (the sequential figures);
 * - "raw batched EVALSHA": one run of the batch decide script carrying 64 calls, one run in flight (64 calls in
 *   flight), what the store sends when 64 callers decide in the same turn. `ours ÷ raw batched` is the
 *   library's own overhead at 64 in flight.
 * At 64 in flight the bench also reports the p99 of one call's time and how the store batched its calls.
 */

import type { Redis } from "ioredis";
import { RateLimiterRedis } from "rate-limiter-flexible";
import { parseConfigObject } from "../../src/config/load.ts";
import type { RedisStoreConfig } from "../../src/config/types.ts";
import { RateSync } from "../../src/core/rate-sync.ts";
import type { TurnBatcherStats } from "../../src/stores/batching/turn-batcher.ts";
import { encodeBatch, encodeCall, leanOf } from "../../src/stores/redis/codec.ts";
import { BATCH_DECIDE_SCRIPT, LEAN_DECIDE_SCRIPTS } from "../../src/stores/redis/lua.ts";
import { RedisStore } from "../../src/stores/redis/redis-store.ts";
import type { StoreOp } from "../../src/stores/store.ts";
import { rawRedis } from "../lib/clients.ts";
import {
  type BenchContext,
  interleave,
  interleaveLatency,
  interleaveLoaded,
  type Row,
} from "../lib/compare.ts";
import { latency, loaded, throughput } from "../lib/measure.ts";
import { configFor, ignore, OPEN_POINTS, spreadKeys, WINDOW_S } from "../lib/setups.ts";
import { IN_FLIGHT } from "./physical.ts";

/** Keys of the spread scenarios on remote stores. */
export const REMOTE_KEYS = 10_000;

/** Calls per run of the raw batched script. */
const RAW_BATCH = 64;

/** A RateSync on Redis, with the over-limit cache on or off, and its store (for its batch counts). */
function redisRateSync(
  ctx: BenchContext,
  prefix: string,
  overLimitCache: boolean,
): { rs: RateSync; store: RedisStore } {
  const snapshot = parseConfigObject(
    configFor({ engine: "redis", url: ctx.redisUrl, key_prefix: prefix, timeout: "5s" }),
  );
  const config = snapshot.stores.get("s") as RedisStoreConfig;
  const store = new RedisStore(config, overLimitCache ? {} : { overLimitCache: false });
  return { rs: RateSync.fromSnapshot(snapshot, { stores: { s: store } }), store };
}

/** The batches between two readings of a store's counters, as text: calls per batch and the size histogram. */
function batchShape(before: TurnBatcherStats, after: TurnBatcherStats): string {
  const batches = after.batches - before.batches;
  const items = after.items - before.items;
  if (batches === 0) return "no batches";
  const parts: string[] = [];
  after.sizes.forEach((count, k) => {
    const n = count - (before.sizes[k] ?? 0);
    if (n === 0) return;
    const range = k === 0 ? "1" : k === 1 ? "2" : `${2 ** (k - 1) + 1}–${2 ** k}`;
    parts.push(`${range}: ${((100 * n) / batches).toFixed(1)}%`);
  });
  return `${(items / batches).toFixed(1)} calls per batch (${parts.join(", ")})`;
}

/** Deletes every key under `prefix` (the bench's own keys only). */
async function dropPrefix(client: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== "0");
}

export async function redisScenarios(ctx: BenchContext): Promise<Row[]> {
  const timing = { durationMs: ctx.durationMs, warmupMs: ctx.warmupMs };
  const ourPrefix = `bench_rs_${ctx.runId}`;
  const theirPrefix = `bench_rlf_${ctx.runId}`;
  const { rs, store } = redisRateSync(ctx, ourPrefix, true);
  const { rs: storeBound } = redisRateSync(ctx, `${ourPrefix}_nc`, false);
  const client = rawRedis(ctx.redisUrl);
  const rlfClient = rawRedis(ctx.redisUrl);
  const open = new RateLimiterRedis({
    storeClient: rlfClient,
    keyPrefix: theirPrefix,
    points: OPEN_POINTS,
    duration: WINDOW_S,
  });
  const closed = new RateLimiterRedis({
    storeClient: rlfClient,
    keyPrefix: `${theirPrefix}_d`,
    points: 1,
    duration: WINDOW_S,
  });
  // rate-limiter-flexible's own local cache of blocked keys: its counterpart of our over-limit cache.
  const closedCached = new RateLimiterRedis({
    storeClient: rlfClient,
    keyPrefix: `${theirPrefix}_dc`,
    points: 1,
    duration: WINDOW_S,
    inMemoryBlockOnConsumed: 1,
    inMemoryBlockDuration: WINDOW_S,
  });
  const keys = spreadKeys(REMOTE_KEYS);
  const note = `fixed window, ${WINDOW_S}s; RateLimiterRedis points/duration equal`;
  try {
    // What our store sends for each key, encoded once: the raw script call pays no encoding.
    const sha = String(await client.script("LOAD", LEAN_DECIDE_SCRIPTS.fw));
    const encode = (limiterId: string, key: string) => {
      const op: StoreOp = {
        limiterId,
        key,
        params: { kind: "fixed_window", limit: OPEN_POINTS, windowMs: WINDOW_S * 1000 },
        cost: 1,
      };
      const lean = leanOf(encodeCall(`${ourPrefix}_raw`, [op], 0, ""));
      if (lean === undefined) throw new Error("a fixed window op has a lean script");
      return [sha, 1, lean.key, ...lean.args] as const;
    };
    const rawHot = encode("hot", "hot");
    const rawSpread = keys.map((key) => encode("spread:<id>", key));
    const evalHot = () => client.evalsha(...rawHot);
    const evalSpread = (i: number) => client.evalsha(...rawSpread[i % REMOTE_KEYS]!);
    // The batch script over 64 pre-encoded calls: the hot key 64 times, or 64 consecutive keys of the spread.
    const batchSha = String(await client.script("LOAD", BATCH_DECIDE_SCRIPT));
    const call = (limiterId: string, key: string) =>
      encodeCall(
        `${ourPrefix}_rawb`,
        [
          {
            limiterId,
            key,
            params: { kind: "fixed_window", limit: OPEN_POINTS, windowMs: WINDOW_S * 1000 },
            cost: 1,
          },
        ],
        0,
        "",
      );
    const hotCall = call("hot", "hot");
    const batchHot = [batchSha, ...encodeBatch(Array.from({ length: RAW_BATCH }, () => hotCall))] as const;
    const batchesSpread = Array.from({ length: REMOTE_KEYS / RAW_BATCH + 1 }, (_, b) => [
      batchSha,
      ...encodeBatch(
        Array.from({ length: RAW_BATCH }, (_, i) =>
          call("spread:<id>", keys[(b * RAW_BATCH + i) % REMOTE_KEYS]!),
        ),
      ),
    ]);
    const evalBatchHot = () => client.evalsha(...(batchHot as unknown as [string, number]));
    const evalBatchSpread = (i: number) =>
      client.evalsha(...(batchesSpread[i % batchesSpread.length] as unknown as [string, number]));
    // Connect everything before measuring.
    await Promise.all([
      rs.tryAcquire("hot"),
      storeBound.tryAcquire("hot"),
      open.consume("hot"),
      evalHot(),
      evalBatchHot(),
    ]);

    ctx.log("redis: sequential latency, hot key");
    const seq = await interleaveLatency(ctx.runs, {
      "rate-sync": () => latency(() => rs.tryAcquire("hot"), timing),
      "rate-limiter-flexible": () => latency(() => open.consume("hot"), timing),
      "raw EVALSHA (our script)": () => latency(evalHot, timing),
    });
    ctx.log(`redis: ${IN_FLIGHT} in flight, hot key`);
    const hotBefore = store.batchStats();
    const parHot = await interleaveLoaded(ctx.runs, {
      "rate-sync": () => loaded(() => rs.tryAcquire("hot"), IN_FLIGHT, timing),
      "rate-limiter-flexible": () => loaded(() => open.consume("hot"), IN_FLIGHT, timing),
      "raw EVALSHA (our script)": () => loaded(evalHot, IN_FLIGHT, timing),
      "raw batched EVALSHA (64 per run)": () => loaded(evalBatchHot, 1, timing, RAW_BATCH),
    });
    const hotShape = batchShape(hotBefore, store.batchStats());
    ctx.log(`redis: hot key, ${IN_FLIGHT} in flight: ${hotShape}`);
    ctx.log(`redis: ${IN_FLIGHT} in flight, ${REMOTE_KEYS} keys`);
    const spreadBefore = store.batchStats();
    const parSpread = await interleaveLoaded(ctx.runs, {
      "rate-sync": () => loaded((i) => rs.tryAcquire(keys[i % REMOTE_KEYS]!), IN_FLIGHT, timing),
      "rate-limiter-flexible": () => loaded((i) => open.consume(keys[i % REMOTE_KEYS]!), IN_FLIGHT, timing),
      "raw EVALSHA (our script)": () => loaded(evalSpread, IN_FLIGHT, timing),
      "raw batched EVALSHA (64 per run)": () => loaded(evalBatchSpread, 1, timing, RAW_BATCH),
    });
    const spreadShape = batchShape(spreadBefore, store.batchStats());
    ctx.log(`redis: ${REMOTE_KEYS} keys, ${IN_FLIGHT} in flight: ${spreadShape}`);
    ctx.log("redis: denied flood");
    await Promise.all([
      rs.tryAcquire("denied"),
      storeBound.tryAcquire("denied"),
      closed.consume("denied").catch(ignore),
      closedCached.consume("denied").catch(ignore),
    ]);
    const flood = await interleave(ctx.runs, {
      "rate-sync": () => throughput(() => rs.tryAcquire("denied"), IN_FLIGHT, timing, 64),
      "rate-sync, cache off (store-bound)": () =>
        throughput(() => storeBound.tryAcquire("denied"), IN_FLIGHT, timing),
      "rate-limiter-flexible, inMemoryBlock": () =>
        throughput(() => closedCached.consume("denied").catch(ignore), IN_FLIGHT, timing, 64),
      "rate-limiter-flexible": () =>
        throughput(() => closed.consume("denied").catch(ignore), IN_FLIGHT, timing),
    });
    return [
      {
        section: "redis",
        scenario: "tryAcquire, hot key, sequential",
        metric: "p50 ms",
        values: seq.p50,
        note,
      },
      {
        section: "redis",
        scenario: "tryAcquire, hot key, sequential",
        metric: "p99 ms",
        values: seq.p99,
        note,
      },
      {
        section: "redis",
        scenario: `tryAcquire, hot key, ${IN_FLIGHT} in flight`,
        metric: "ops/s",
        values: parHot.opsPerSec,
        note: `${note}; rate-sync sent ${hotShape}`,
      },
      {
        section: "redis",
        scenario: `tryAcquire, hot key, ${IN_FLIGHT} in flight`,
        metric: "p99 ms",
        values: parHot.p99,
        note: `${note}; one call's time (raw batched: one run's)`,
      },
      {
        section: "redis",
        scenario: `tryAcquire, ${REMOTE_KEYS / 1000}k keys, ${IN_FLIGHT} in flight`,
        metric: "ops/s",
        values: parSpread.opsPerSec,
        note: `${note}; rate-sync sent ${spreadShape}`,
      },
      {
        section: "redis",
        scenario: `tryAcquire, ${REMOTE_KEYS / 1000}k keys, ${IN_FLIGHT} in flight`,
        metric: "p99 ms",
        values: parSpread.p99,
        note: `${note}; one call's time (raw batched: one run's)`,
      },
      {
        section: "redis",
        scenario: `denied flood, ${IN_FLIGHT} in flight`,
        metric: "ops/s",
        values: flood,
        note: "limit 1 per window, already used; local over-limit cache on unless said",
      },
    ];
  } finally {
    await Promise.all([rs.close(), storeBound.close()]);
    for (const prefix of [ourPrefix, theirPrefix]) await dropPrefix(client, prefix).catch(() => {});
    client.disconnect();
    rlfClient.disconnect();
  }
}
