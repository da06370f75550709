/**
 * Memory stays bounded under key cardinality attacks: 10,000,000 distinct keys stay within `max_keys`,
 * 1,000,000 distinct template clones within `max_clones`, and the heap returns to near its baseline once keys
 * expire. The measurements run in a child process with `--expose-gc` (`memory-bounds.worker.ts`), so the heap is
 * measured after full collections and nothing else of the test runner is in it.
 */

import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import type { Measurements } from "./memory-bounds.worker.ts";

const MB = 1024 * 1024;

async function measure(): Promise<Measurements> {
  const worker = join(import.meta.dirname, "memory-bounds.worker.ts");
  const { stdout } = await promisify(execFile)(process.execPath, ["--expose-gc", "--import", "tsx", worker], {
    cwd: join(import.meta.dirname, "..", ".."),
    maxBuffer: 1024 * 1024,
    timeout: 150_000,
  });
  const line = stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(line) as Measurements;
}

describe("memory bounds (child process with --expose-gc)", () => {
  let measured: Promise<Measurements> | undefined;
  const measurements = () => {
    measured ??= measure();
    return measured;
  };

  it("10,000,000 distinct keys through the memory store stay within max_keys", async () => {
    const { keys } = await measurements();
    expect(keys.peakKeys).toBeLessThanOrEqual(keys.maxKeys);
    expect(keys.evictions).toBe(keys.calls - keys.maxKeys);
    // Nine million keys after the first million change nothing: the heap holds max_keys states, no more.
    expect(keys.heapAtEnd - keys.heapAt1M).toBeLessThan(16 * MB);
    expect(keys.heapAtEnd).toBeLessThan(128 * MB);
  }, 180_000);

  it("1,000,000 distinct template clones stay within max_clones (and the store within max_keys)", async () => {
    const { clones } = await measurements();
    expect(clones.storeKeys).toBeLessThanOrEqual(clones.maxKeys);
    // 800,000 more clones than the first 200,000: nothing per clone is kept past the bounds.
    expect(clones.heapAtEnd - clones.heapAt200k).toBeLessThan(16 * MB);
    expect(clones.heapAtEnd).toBeLessThan(128 * MB);
  }, 180_000);

  it("the heap returns to near its baseline after keys expire", async () => {
    const { expiry } = await measurements();
    // The measurement can see the keys at all (half a million states are tens of megabytes)...
    expect(expiry.heapFilled - expiry.heapBaseline).toBeGreaterThan(32 * MB);
    // ...and once they expire, the lazy sweep gives it all back (the hot key that drove the sweep remains).
    expect(expiry.keysAfterSweep).toBeLessThanOrEqual(2);
    expect(expiry.heapAfterSweep - expiry.heapBaseline).toBeLessThan(4 * MB);
  }, 180_000);
});
