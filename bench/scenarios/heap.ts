/**
 * @module
 * Heap bytes per key at a million keys, each contender in its own child process (`heap-child.ts`, run with
 * `--expose-gc`) so neither sees the other's garbage or the bench's own allocations.
 */

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type BenchContext, interleave, type Row } from "../lib/compare.ts";

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL("../heap-child.ts", import.meta.url));

/** Keys held at the end of the measurement. */
export const HEAP_KEYS = 1_000_000;

async function bytesPerKey(contender: string, keys: number): Promise<number> {
  // The child inherits this process's CPU affinity (the bench's client core).
  const { stdout } = await run(
    process.execPath,
    ["--expose-gc", "--max-old-space-size=4096", "--import", "tsx", CHILD, contender, String(keys)],
    { maxBuffer: 1 << 20 },
  );
  const parsed = JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as { bytesPerKey?: unknown };
  if (typeof parsed.bytesPerKey !== "number") throw new Error(`heap child printed ${stdout}`);
  return parsed.bytesPerKey;
}

export async function heapScenarios(ctx: BenchContext): Promise<Row[]> {
  // The quick run keeps the million keys (the target is stated at that size) but measures once.
  const runs = ctx.quick ? 1 : Math.min(3, ctx.runs);
  ctx.log(`heap: ${HEAP_KEYS} keys, ${runs} run(s) per contender`);
  const values = await interleave(runs, {
    "rate-sync": () => bytesPerKey("rate-sync", HEAP_KEYS),
    "rate-limiter-flexible": () => bytesPerKey("rate-limiter-flexible", HEAP_KEYS),
  });
  return [
    {
      section: "memory",
      scenario: `heap per key at ${HEAP_KEYS / 1e6}M keys`,
      metric: "bytes/key",
      values,
      note: "tryAcquire on 1M distinct keys of a template, heap growth after full GC",
    },
  ];
}
