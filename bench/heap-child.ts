/**
 * @module
 * Heap bytes per key, measured in a child process started with `--expose-gc` (see `scenarios/heap.ts`):
 * builds the keys first, collects garbage, decides once per key, collects again and divides the growth of the
 * heap by the number of keys. Prints one JSON line: `{ "bytesPerKey": n, "keys": n }`.
 *
 * Usage: `node --expose-gc --import tsx bench/heap-child.ts <rate-sync|rate-limiter-flexible> <keys>`
 */

import { RateLimiterMemory } from "rate-limiter-flexible";
import { OPEN_POINTS, rateSyncFor, spreadKeys, WINDOW_S } from "./lib/setups.ts";

const gc = (globalThis as { gc?: () => void }).gc;

function collect(): number {
  if (gc === undefined) throw new Error("run with --expose-gc");
  // Several passes: the first may only promote what the next one frees.
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().heapUsed;
}

async function main(): Promise<void> {
  const which = process.argv[2];
  const count = Number(process.argv[3] ?? 1_000_000);
  const keys = spreadKeys(count);
  let decide: (key: string) => Promise<unknown>;
  let keepAlive: unknown;
  if (which === "rate-sync") {
    const rs = rateSyncFor({ engine: "memory", max_keys: 2 * count });
    decide = (key) => rs.tryAcquire(key);
    keepAlive = rs;
  } else if (which === "rate-limiter-flexible") {
    const rlf = new RateLimiterMemory({ points: OPEN_POINTS, duration: WINDOW_S });
    decide = (key) => rlf.consume(key);
    keepAlive = rlf;
  } else {
    throw new Error(`unknown contender ${String(which)}`);
  }
  // One warm-up call, so code and caches that exist whatever the key count are not charged to the keys.
  await decide("spread:warm-up");
  const before = collect();
  for (const key of keys) await decide(key);
  const after = collect();
  process.stdout.write(`${JSON.stringify({ bytesPerKey: (after - before) / count, keys: count })}\n`);
  // The limiter must stay reachable until the second measurement.
  if (keepAlive === undefined) throw new Error("unreachable");
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error instanceof Error ? error.stack : error)}\n`);
  process.exit(1);
});
