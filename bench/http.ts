/**
 * @module
 * HTTP adapter throughput on loopback: Express with no limiter, with express-rate-limit, and with
 * `rate-sync/express` — same limit (never reached, so every request takes the allowed path), memory stores.
 * A bounded loop of keep-alive requests from a fixed number of concurrent clients; the three setups are
 * measured in alternating rounds so drift (JIT, CPU frequency) hits them alike. Client and server share one
 * process, so the ratios understate the middleware's own cost a little; they are for comparison, not SLOs.
 *
 * Run: `npx tsx bench/http.ts` (prints a table and the JSON). The main bench imports `measureHttp()`.
 */

import { Agent, request } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import express, { type RequestHandler } from "express";
import { rateLimit as expressRateLimit } from "express-rate-limit";
import { RateSync } from "../src/core/rate-sync.ts";
import { rateLimit } from "../src/http/express.ts";

/** Settings of {@link measureHttp}. */
export interface HttpBenchOptions {
  /** Requests per setup per round. @default 5000 */
  readonly requests?: number;
  /** Concurrent keep-alive clients. @default 32 */
  readonly concurrency?: number;
  /** Measured rounds (one warm-up round is run first and discarded). @default 3 */
  readonly rounds?: number;
}

/** Requests per second of each setup (median of the rounds), and the ratios the report cares about. */
export interface HttpBenchResult {
  readonly requests: number;
  readonly concurrency: number;
  readonly rounds: number;
  readonly requestsPerSecond: {
    readonly none: number;
    readonly expressRateLimit: number;
    readonly rateSync: number;
  };
  /** rate-sync ÷ no middleware (1 = free). */
  readonly rateSyncVsNone: number;
  /** rate-sync ÷ express-rate-limit (above 1: rate-sync is faster). */
  readonly rateSyncVsExpressRateLimit: number;
}

type Setup = keyof HttpBenchResult["requestsPerSecond"];

interface Running {
  readonly port: number;
  close(): Promise<void>;
}

async function listen(middleware: RequestHandler | undefined): Promise<Running> {
  const app = express();
  if (middleware) app.use(middleware);
  app.get("/", (_req, res) => {
    res.send("ok");
  });
  const server = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function get(agent: Agent, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", agent }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Sends `total` requests from `concurrency` clients; returns requests per second. */
async function drive(port: number, total: number, concurrency: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        const status = await get(agent, port);
        // A refused request would be measuring another path: the limits are set so that never happens.
        if (status !== 200) throw new Error(`unexpected status ${status}`);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return total / seconds;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Measures the three setups and returns the numbers as JSON-ready data. */
export async function measureHttp(options: HttpBenchOptions = {}): Promise<HttpBenchResult> {
  const { requests = 5000, concurrency = 32, rounds = 3 } = options;
  const rs = RateSync.fromConfig({
    // 1000000/s is the fastest rate a config takes (README, "Ranges of numbers"); the burst keeps it open.
    limiters: { "bench:<ip>": { rate: "1000000/s", burst: 100_000_000 } },
  });
  const servers: Record<Setup, Running> = {
    none: await listen(undefined),
    expressRateLimit: await listen(
      expressRateLimit({
        windowMs: 60_000,
        limit: 100_000_000,
        standardHeaders: "draft-8",
        legacyHeaders: false,
      }),
    ),
    rateSync: await listen(rateLimit({ rs, key: "bench:<ip>" })),
  };
  const samples: Record<Setup, number[]> = { none: [], expressRateLimit: [], rateSync: [] };
  try {
    for (let round = 0; round <= rounds; round++) {
      for (const setup of Object.keys(servers) as Setup[]) {
        const rps = await drive(servers[setup].port, requests, concurrency);
        if (round > 0) samples[setup].push(rps);
      }
    }
  } finally {
    await Promise.all(Object.values(servers).map((server) => server.close()));
    await rs.close();
  }
  const rps = {
    none: Math.round(median(samples.none)),
    expressRateLimit: Math.round(median(samples.expressRateLimit)),
    rateSync: Math.round(median(samples.rateSync)),
  };
  return {
    requests,
    concurrency,
    rounds,
    requestsPerSecond: rps,
    rateSyncVsNone: Number((rps.rateSync / rps.none).toFixed(3)),
    rateSyncVsExpressRateLimit: Number((rps.rateSync / rps.expressRateLimit).toFixed(3)),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await measureHttp();
  console.table(result.requestsPerSecond);
  console.log(`rate-sync / no middleware:      ${result.rateSyncVsNone}`);
  console.log(`rate-sync / express-rate-limit: ${result.rateSyncVsExpressRateLimit}`);
  console.log(JSON.stringify(result));
}
