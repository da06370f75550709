/**
 * @module
 * Physical limits, measured in the same run as the libraries: what an operation costs with nothing of a rate
 * limiter in it. They bound what any library can reach on this machine, so "ours ÷ limit" says how much of
 * the hardware the library leaves on the table.
 */

import { pinBackends, rawPostgres, rawRedis } from "../lib/clients.ts";
import { type BenchContext, interleave, interleaveLatency, type Row } from "../lib/compare.ts";
import { latency, throughput } from "../lib/measure.ts";

/** Calls in flight for the concurrent figures. */
export const IN_FLIGHT = 64;

/** Empty `await` and `Map` get+set: the floor of an in-process decision. */
export async function physicalMemory(ctx: BenchContext): Promise<Row[]> {
  const timing = { durationMs: ctx.durationMs, warmupMs: ctx.warmupMs };
  const resolved = Promise.resolve();
  const map = new Map<string, number>();
  const keys = Array.from({ length: 100_000 }, (_, i) => `k:${i}`);
  // An async function per call, like a library's method: the await and the promise it returns.
  const emptyAwait = async (): Promise<void> => {
    await resolved;
  };
  const mapGetSet = async (i: number): Promise<void> => {
    const key = keys[i % keys.length]!;
    map.set(key, (map.get(key) ?? 0) + 1);
  };
  ctx.log("physical: empty await, Map get+set");
  const awaitRuns = await interleave(ctx.runs, {
    "empty await": () => throughput(emptyAwait, 1, timing, 256),
  });
  const mapRuns = await interleave(ctx.runs, {
    "Map get+set (async fn)": () => throughput(mapGetSet, 1, timing, 256),
  });
  return [
    { section: "physical", scenario: "empty await (async fn)", metric: "ops/s", values: awaitRuns },
    {
      section: "physical",
      scenario: "Map get+set, 100k keys (async fn)",
      metric: "ops/s",
      values: mapRuns,
    },
  ];
}

/** `PING` and a trivial `EVALSHA` (`return 1`), sequential and {@link IN_FLIGHT} in flight. */
export async function physicalRedis(ctx: BenchContext): Promise<Row[]> {
  const timing = { durationMs: ctx.durationMs, warmupMs: ctx.warmupMs };
  const client = rawRedis(ctx.redisUrl);
  try {
    const sha = String(await client.script("LOAD", "return 1"));
    const ping = () => client.ping();
    const evalsha = () => client.evalsha(sha, 0);
    ctx.log("physical: Redis PING / trivial EVALSHA");
    const seq = await interleaveLatency(ctx.runs, {
      PING: () => latency(ping, timing),
      "EVALSHA return 1": () => latency(evalsha, timing),
    });
    const par = await interleave(ctx.runs, {
      PING: () => throughput(ping, IN_FLIGHT, timing),
      "EVALSHA return 1": () => throughput(evalsha, IN_FLIGHT, timing),
    });
    return [
      { section: "physical", scenario: "Redis round trip, sequential", metric: "p50 ms", values: seq.p50 },
      { section: "physical", scenario: "Redis round trip, sequential", metric: "p99 ms", values: seq.p99 },
      { section: "physical", scenario: `Redis, ${IN_FLIGHT} in flight`, metric: "ops/s", values: par },
    ];
  } finally {
    client.disconnect();
  }
}

/** `SELECT 1` and a single-row upsert on a private table, sequential and {@link IN_FLIGHT} in flight. */
export async function physicalPostgres(ctx: BenchContext, poolSize: number): Promise<Row[]> {
  const timing = { durationMs: ctx.durationMs, warmupMs: ctx.warmupMs };
  const sql = await rawPostgres(ctx.databaseUrl, poolSize, "rate-sync-bench-raw");
  const table = `bench_raw_${ctx.runId}`;
  try {
    await sql.unsafe(`CREATE TABLE ${table} (k text PRIMARY KEY, v bigint NOT NULL)`);
    const upsertText = `INSERT INTO ${table} AS t (k, v) VALUES ($1, 1) ON CONFLICT (k) DO UPDATE SET v = t.v + 1 RETURNING v`;
    const keys = Array.from({ length: 10_000 }, (_, i) => `k:${i}`);
    await pinBackends(sql, ["rate-sync-bench-raw"], ctx.pinServer, IN_FLIGHT);
    const select1 = () => sql.unsafe("SELECT 1", [], { prepare: true });
    const upsertHot = () => sql.unsafe(upsertText, ["hot"], { prepare: true });
    const upsertSpread = (i: number) => sql.unsafe(upsertText, [keys[i % keys.length]!], { prepare: true });
    ctx.log("physical: PostgreSQL SELECT 1 / upsert");
    const seq = await interleaveLatency(ctx.runs, {
      "SELECT 1": () => latency(select1, timing),
      "upsert, one row": () => latency(upsertHot, timing),
    });
    const par = await interleave(ctx.runs, {
      "SELECT 1": () => throughput(select1, IN_FLIGHT, timing),
      "upsert, hot key": () => throughput(upsertHot, IN_FLIGHT, timing),
      "upsert, 10k keys": () => throughput(upsertSpread, IN_FLIGHT, timing),
    });
    return [
      { section: "physical", scenario: "PostgreSQL, sequential", metric: "p50 ms", values: seq.p50 },
      { section: "physical", scenario: "PostgreSQL, sequential", metric: "p99 ms", values: seq.p99 },
      {
        section: "physical",
        scenario: `PostgreSQL, ${IN_FLIGHT} in flight (pool ${poolSize})`,
        metric: "ops/s",
        values: par,
      },
    ];
  } finally {
    await sql.unsafe(`DROP TABLE IF EXISTS ${table}`).catch(() => {});
    await sql.end({ timeout: 1 });
  }
}
