/**
 * @module
 * Overrides: the time from the start of `rs.overrides.set` in one process to the first decision made under the
 * new limit in another process, on Redis (pub/sub) and PostgreSQL (LISTEN/NOTIFY).
 * The other process decides one key in a loop (one decision per event-loop turn, on the same store); each set
 * changes that key's `burst`, so the decision that first carries the new limit is the end of the measurement.
 * p50 and p99 over every set of a run.
 *
 * Run alone: `npx tsx bench/scenarios/overrides.ts` (prints the rows). The main bench runs it as the
 * `overrides` section.
 */

import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { RateSync } from "../../src/index.ts";
import type { BenchContext, Row } from "../lib/compare.ts";
import { quantile, summarize } from "../lib/stats.ts";

const CHILD = fileURLToPath(new URL("./overrides-child.ts", import.meta.url));
const KEY = "bench:acme";

function toml(engine: "redis" | "postgres", url: string, name: string): string {
  const where = engine === "redis" ? `key_prefix = "${name}"` : `table_name = "${name}"`;
  return `
[stores.main]
engine = "${engine}"
url = "${url}"
${where}

[overrides]
store = "main"

[limiters."bench:<tenant>"]
rate = "1000000/s"
burst = 1000
`;
}

/** The deciding process, started and ready. */
async function startChild(
  config: string,
): Promise<{ child: ChildProcess; next: (quota: number) => Promise<number> }> {
  const child = fork(CHILD, [config, KEY], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const waiting = new Map<number, (at: number) => void>();
  const seen = new Map<number, number>();
  await new Promise<void>((resolve, reject) => {
    child.on("message", (message: { ready?: true; quota?: number; at?: number }) => {
      if (message.ready) resolve();
      if (message.quota === undefined || message.at === undefined) return;
      const resolveAt = waiting.get(message.quota);
      if (resolveAt) resolveAt(message.at);
      else seen.set(message.quota, message.at);
    });
    child.once("exit", (code) => reject(new Error(`the deciding process exited with ${code}`)));
  });
  const next = (quota: number) =>
    new Promise<number>((resolve, reject) => {
      const already = seen.get(quota);
      if (already !== undefined) return resolve(already);
      const timer = setTimeout(
        () => reject(new Error(`no decision under burst ${quota} within 10 s`)),
        10_000,
      );
      waiting.set(quota, (at) => {
        clearTimeout(timer);
        waiting.delete(quota);
        resolve(at);
      });
    });
  return { child, next };
}

/** One run: `sets` overrides, each timed from the start of `set` to the other process's first decision. */
async function measure(
  writer: RateSync,
  next: (quota: number) => Promise<number>,
  sets: number,
  base: number,
) {
  const samples = new Float64Array(sets);
  for (let i = 0; i < sets; i++) {
    const quota = base + i;
    const arrived = next(quota);
    const started = performance.timeOrigin + performance.now();
    await writer.overrides.set(KEY, { burst: quota }, { reason: "bench", by: "bench" });
    samples[i] = (await arrived) - started;
    // Apart, as changes by hand are: each set is measured on its own, not queued behind the last.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { p50: quantile(samples.slice(), 0.5), p99: quantile(samples.slice(), 0.99) };
}

async function engineRows(ctx: BenchContext, engine: "redis" | "postgres"): Promise<Row[]> {
  const url = engine === "redis" ? ctx.redisUrl : ctx.databaseUrl;
  const name = `bench_overrides_${ctx.runId}`;
  const config = toml(engine, url, name);
  const writer = RateSync.fromToml(config, { quiet: true });
  await writer.overrides.ready();
  const started = await startChild(config);
  const sets = ctx.quick ? 20 : 50;
  const p50: number[] = [];
  const p99: number[] = [];
  try {
    for (let run = 0; run < ctx.runs; run++) {
      ctx.log(`overrides, ${engine}: run ${run + 1} of ${ctx.runs}`);
      const result = await measure(writer, started.next, sets, 2000 + run * 1000);
      p50.push(result.p50);
      p99.push(result.p99);
    }
  } finally {
    started.child.send("stop");
    await new Promise((resolve) => started.child.once("exit", resolve));
    await writer.overrides.unset(KEY).catch(() => {});
    await cleanUp(engine, url, name);
    await writer.close();
  }
  const scenario = `override set → first decision under it in another process (${engine})`;
  const note = `${sets} sets per run, 20 ms apart; the other process decides one key per event-loop turn`;
  return [
    { section: "overrides", scenario, metric: "p50 ms", values: { "rate-sync": summarize(p50) }, note },
    { section: "overrides", scenario, metric: "p99 ms", values: { "rate-sync": summarize(p99) }, note },
  ];
}

/** Deletes what the run created (its key prefix, or its tables). */
async function cleanUp(engine: "redis" | "postgres", url: string, name: string): Promise<void> {
  if (engine === "redis") {
    const { Redis } = await import("ioredis");
    const raw = new Redis(url);
    let cursor = "0";
    do {
      const [next, keys] = await raw.scan(cursor, "MATCH", `${name}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await raw.del(...keys);
    } while (cursor !== "0");
    raw.disconnect();
    return;
  }
  const postgres = ((await import("postgres")) as unknown as { default: typeof import("postgres") }).default;
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    for (const suffix of ["", "_overrides", "_overrides_version", "_overrides_history"]) {
      await sql.unsafe(`DROP TABLE IF EXISTS "${name}${suffix}" CASCADE`);
    }
    const functions = await sql.unsafe(
      "SELECT p.oid::regprocedure::text AS name FROM pg_proc p WHERE p.proname LIKE $1",
      [`${name}_%`],
    );
    for (const row of functions) await sql.unsafe(`DROP FUNCTION IF EXISTS ${row.name as string}`);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** The `overrides` section: Redis, then PostgreSQL. */
export async function overridesScenarios(ctx: BenchContext): Promise<Row[]> {
  return [...(await engineRows(ctx, "redis")), ...(await engineRows(ctx, "postgres"))];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const ctx: BenchContext = {
    runs: 3,
    durationMs: 0,
    warmupMs: 0,
    quick: process.argv.includes("--quick"),
    redisUrl: process.env.REDIS_URL || "redis://127.0.0.1:6379",
    databaseUrl: process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/test",
    runId: Math.random().toString(16).slice(2, 10),
    log: (line) => process.stderr.write(`[bench] ${line}\n`),
    pinServer: async () => {},
  };
  for (const row of await overridesScenarios(ctx)) {
    const v = row.values["rate-sync"]!;
    process.stdout.write(
      `${row.scenario}, ${row.metric}: ${v.median.toFixed(2)} [${v.min.toFixed(2)}–${v.max.toFixed(2)}]\n`,
    );
  }
}
