/**
 * @module
 * `npm run bench`: rate-sync against rate-limiter-flexible, side by side in one run, with the physical limits
 * of this machine measured in the same run. Prints Markdown tables (results, ratios to physical limits,
 * targets) and writes everything to `bench/results/latest.json`.
 *
 * Options:
 * - `--quick`: CI-sized (short measurements, 3 runs per figure);
 * - `--runs=N`: runs per figure (default 5, quick 3);
 * - `--only=physical,memory,heap,redis,postgres,sqlite,acquire,overrides`: a subset of the sections;
 * - `--no-pin`: no CPU pinning.
 *
 * Pinning: when the machine has two cores and `taskset`, the bench re-runs itself on core 0 and moves the
 * Redis server and its own PostgreSQL backends to core 1 for the duration of the run (restored at the end).
 */

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { rawRedis } from "./lib/clients.ts";
import type { BenchContext, Row } from "./lib/compare.ts";
import { CLIENT_CPU, canPin, Pins, SERVER_CPU } from "./lib/pinning.ts";
import { evaluate, physicalTable, resultsTable, type Target, targetsTable } from "./lib/report.ts";
import { targets } from "./lib/targets.ts";
import { acquireScenarios } from "./scenarios/acquire.ts";
import { heapScenarios } from "./scenarios/heap.ts";
import { memoryScenarios, SPREAD_KEYS } from "./scenarios/memory.ts";
import { overridesScenarios } from "./scenarios/overrides.ts";
import { IN_FLIGHT, physicalMemory, physicalPostgres, physicalRedis } from "./scenarios/physical.ts";
import { PG_POOL, postgresScenarios } from "./scenarios/postgres.ts";
import { REMOTE_KEYS, redisScenarios } from "./scenarios/redis.ts";
import { sqliteScenarios } from "./scenarios/sqlite.ts";

const SECTIONS = [
  "physical",
  "memory",
  "heap",
  "redis",
  "postgres",
  "sqlite",
  "acquire",
  "overrides",
] as const;
type Section = (typeof SECTIONS)[number];

const PINNED_ENV = "RATE_SYNC_BENCH_PINNED";

interface Options {
  readonly quick: boolean;
  readonly runs: number;
  readonly only: ReadonlySet<Section>;
  readonly pin: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const quick = argv.includes("--quick");
  let runs = quick ? 3 : 5;
  let only = new Set<Section>(SECTIONS);
  for (const arg of argv) {
    if (arg.startsWith("--runs=")) runs = Math.max(1, Number.parseInt(arg.slice(7), 10) || runs);
    if (arg.startsWith("--only=")) {
      const wanted = arg.slice(7).split(",");
      for (const name of wanted) {
        if (!(SECTIONS as readonly string[]).includes(name)) throw new Error(`unknown section ${name}`);
      }
      only = new Set(wanted as Section[]);
    }
  }
  return { quick, runs, only, pin: !argv.includes("--no-pin") };
}

/** rate-sync's figures divided by the physical limits measured in the same run. */
function physicalRatios(): Target[] {
  const info = { bound: 0, op: ">=" as const };
  return [
    {
      name: "memory, hot key",
      section: "memory",
      scenario: "tryAcquire, hot key",
      metric: "ops/s",
      reference: "empty await",
      referenceRow: ["physical", "empty await (async fn)"],
      ...info,
    },
    {
      name: "memory, 100k keys",
      section: "memory",
      scenario: `tryAcquire, ${SPREAD_KEYS / 1000}k keys`,
      metric: "ops/s",
      reference: "Map get+set (async fn)",
      referenceRow: ["physical", "Map get+set, 100k keys (async fn)"],
      ...info,
    },
    {
      name: `redis, hot key, ${IN_FLIGHT} in flight`,
      section: "redis",
      scenario: `tryAcquire, hot key, ${IN_FLIGHT} in flight`,
      metric: "ops/s",
      reference: "EVALSHA return 1",
      referenceRow: ["physical", `Redis, ${IN_FLIGHT} in flight`],
      ...info,
    },
    {
      name: "redis, sequential p50 (lower is better)",
      section: "redis",
      scenario: "tryAcquire, hot key, sequential",
      metric: "p50 ms",
      reference: "EVALSHA return 1",
      referenceRow: ["physical", "Redis round trip, sequential"],
      ...info,
    },
    {
      name: `postgres, 10k keys, ${IN_FLIGHT} in flight`,
      section: "postgres",
      scenario: `tryAcquire, ${REMOTE_KEYS / 1000}k keys, ${IN_FLIGHT} in flight`,
      metric: "ops/s",
      reference: "upsert, 10k keys",
      referenceRow: ["physical", `PostgreSQL, ${IN_FLIGHT} in flight (pool ${PG_POOL})`],
      ...info,
    },
    {
      name: "postgres, sequential p50 (lower is better)",
      section: "postgres",
      scenario: "tryAcquire, hot key, sequential",
      metric: "p50 ms",
      reference: "SELECT 1",
      referenceRow: ["physical", "PostgreSQL, sequential"],
      ...info,
    },
  ];
}

/** Re-runs this script on the client core; resolves with its exit code. */
function rerunPinned(): Promise<number> {
  const script = fileURLToPath(import.meta.url);
  const child = spawn(
    "taskset",
    ["-c", String(CLIENT_CPU), process.execPath, ...process.execArgv, script, ...process.argv.slice(2)],
    { stdio: "inherit", env: { ...process.env, [PINNED_ENV]: "1" } },
  );
  return new Promise((resolve) => child.on("exit", (code) => resolve(code ?? 1)));
}

/** The Redis server's pid, when it runs on this machine. */
async function redisServerPid(url: string): Promise<number | undefined> {
  const host = new URL(url).hostname;
  if (host !== "127.0.0.1" && host !== "localhost" && host !== "::1") return undefined;
  const client = rawRedis(url);
  try {
    const info = String(await client.info("server"));
    const pid = /process_id:(\d+)/.exec(info)?.[1];
    return pid === undefined ? undefined : Number(pid);
  } catch {
    return undefined;
  } finally {
    client.disconnect();
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  // The re-run child sees only its own core, so it takes the parent's word that pinning is possible.
  const pinnable = options.pin && (process.env[PINNED_ENV] === "1" || (await canPin()));
  if (pinnable && process.env[PINNED_ENV] === undefined) {
    process.exitCode = await rerunPinned();
    return;
  }
  const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
  const pins = new Pins();
  const pinServer = async (pid: number) => {
    if (pinnable) await pins.pin(pid, SERVER_CPU);
  };
  const restore = () => {
    void pins.restore().finally(() => process.exit(130));
  };
  process.once("SIGINT", restore);
  process.once("SIGTERM", restore);

  const ctx: BenchContext = {
    runs: options.runs,
    durationMs: options.quick ? 300 : 1_000,
    warmupMs: options.quick ? 100 : 300,
    quick: options.quick,
    redisUrl: process.env.REDIS_URL || "redis://127.0.0.1:6379",
    databaseUrl: process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/test",
    runId: randomBytes(4).toString("hex"),
    log,
    pinServer,
  };
  const started = new Date();
  log(`runs per figure: ${ctx.runs}, ${ctx.durationMs} ms each; pinning: ${pinnable ? "on" : "off"}`);
  const rows: Row[] = [];
  const failures: string[] = [];
  const section = async (name: Section, work: () => Promise<Row[]>) => {
    if (!options.only.has(name)) return;
    try {
      rows.push(...(await work()));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      failures.push(`${name}: ${message}`);
      log(`${name} failed: ${message}`);
    }
  };
  try {
    const redisPid =
      options.only.has("redis") || options.only.has("physical")
        ? await redisServerPid(ctx.redisUrl)
        : undefined;
    if (redisPid !== undefined) await pinServer(redisPid);
    await section("physical", async () => [
      ...(await physicalMemory(ctx)),
      ...(await physicalRedis(ctx)),
      ...(await physicalPostgres(ctx, PG_POOL)),
    ]);
    await section("memory", () => memoryScenarios(ctx));
    await section("heap", () => heapScenarios(ctx));
    await section("redis", () => redisScenarios(ctx));
    await section("postgres", () => postgresScenarios(ctx));
    await section("sqlite", () => sqliteScenarios(ctx));
    await section("acquire", () => acquireScenarios(ctx));
    await section("overrides", () => overridesScenarios(ctx));
  } finally {
    await pins.restore();
  }

  const targetResults = evaluate(rows, targets()).filter((t) => !Number.isNaN(t.value));
  const physical = evaluate(rows, physicalRatios()).filter((t) => !Number.isNaN(t.value));
  const output = [
    `## Results (${options.quick ? "quick" : "full"} run, ${started.toISOString()})`,
    "",
    `Each figure: median of ${ctx.runs} runs [min–max], ${ctx.durationMs} ms each after ${ctx.warmupMs} ms of warm-up; ` +
      `contenders interleaved. Node ${process.version}, ${cpus().length} cores, pinning ${pinnable ? "on (client core 0, servers core 1)" : "off"}.`,
    "",
    resultsTable(rows),
    "",
    "## rate-sync ÷ physical limits",
    "",
    physicalTable(physical),
    "",
    "## Targets",
    "",
    targetsTable(targetResults),
    ...(failures.length === 0 ? [] : ["", "## Sections that failed", "", ...failures.map((f) => `- ${f}`)]),
    "",
  ].join("\n");
  process.stdout.write(output);

  const dir = fileURLToPath(new URL("./results/", import.meta.url));
  await mkdir(dir, { recursive: true });
  await writeFile(
    `${dir}latest.json`,
    `${JSON.stringify(
      {
        startedAt: started.toISOString(),
        options: {
          quick: options.quick,
          runs: ctx.runs,
          durationMs: ctx.durationMs,
          warmupMs: ctx.warmupMs,
          only: [...options.only],
        },
        machine: { node: process.version, cores: cpus().length, pinned: pinnable },
        rows,
        physicalRatios: physical,
        targets: targetResults,
        failures,
      },
      null,
      2,
    )}\n`,
  );
  await writeFile(`${dir}latest.md`, output);
  if (failures.length > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
