/**
 * Measures memory bounds in a process of its own, started by `memory-bounds.test.ts` with `--expose-gc` so the
 * heap can be measured after a full collection. Prints one JSON line of {@link Measurements}; the test asserts.
 *
 * Phases:
 * - `keys`: 10,000,000 distinct keys through a memory store with `maxKeys = 100_000`.
 * - `clones`: 1,000,000 distinct template clones through RateSync with `max_clones = 10_000`.
 * - `expiry`: 500,000 keys that expire, then the lazy sweep: the heap returns to near its baseline.
 */

import type { RateParams } from "../../src/algorithms/types.ts";
import { MemoryStore, RateSync } from "../../src/index.ts";

/** What the worker reports. Heap figures are bytes after a full GC. */
export interface Measurements {
  readonly keys: {
    readonly calls: number;
    readonly maxKeys: number;
    /** Largest `stats().keys` seen at any checkpoint. */
    readonly peakKeys: number;
    readonly evictions: number;
    readonly heapAt1M: number;
    readonly heapAtEnd: number;
  };
  readonly clones: {
    readonly calls: number;
    readonly maxClones: number;
    readonly maxKeys: number;
    readonly storeKeys: number;
    readonly heapAt200k: number;
    readonly heapAtEnd: number;
  };
  readonly expiry: {
    readonly keys: number;
    readonly heapBaseline: number;
    readonly heapFilled: number;
    readonly heapAfterSweep: number;
    readonly keysAfterSweep: number;
  };
}

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --expose-gc");

function heap(): number {
  // Two passes: the first may only schedule finalization of what the second frees.
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

// Windows align to the epoch, so an hour-long window ends at the top of every hour: a run crossing it would
// see its keys expire and be swept rather than evicted. This window's current one ends in 2033.
const WINDOW: RateParams = { kind: "fixed_window", limit: 10, windowMs: 1_000_000_000_000 };

async function keysPhase(): Promise<Measurements["keys"]> {
  const calls = 10_000_000;
  const maxKeys = 100_000;
  const store = new MemoryStore({ maxKeys });
  let peakKeys = 0;
  let heapAt1M = 0;
  for (let i = 0; i < calls; i++) {
    // The memory store decides synchronously; awaiting only the last call of each chunk saves ten million
    // microtask turns. A rejection in between would surface as an unhandled rejection and fail the worker.
    const decided = store.decide([{ limiterId: "api", key: `user-${i}`, params: WINDOW, cost: 1 }], 0);
    if (i % 100_000 === 99_999) {
      if (!(await decided).allowed) throw new Error(`user-${i} was denied on its first call`);
      peakKeys = Math.max(peakKeys, store.stats().keys);
      if (i === 999_999) heapAt1M = heap();
    }
  }
  const result = {
    calls,
    maxKeys,
    peakKeys,
    evictions: store.stats().evictions,
    heapAt1M,
    heapAtEnd: heap(),
  };
  await store.close();
  return result;
}

async function clonesPhase(): Promise<Measurements["clones"]> {
  const calls = 1_000_000;
  const maxClones = 10_000;
  const maxKeys = 100_000;
  const rs = RateSync.fromToml(
    `
[defaults]
max_clones = ${maxClones}

[stores.m]
engine = "memory"
max_keys = ${maxKeys}

[limiters."tenant:<id>"]
rate = "10/s"
`,
    { env: {} },
  );
  let heapAt200k = 0;
  for (let i = 0; i < calls; i++) {
    const decision = await rs.tryAcquire(`tenant:${i}`);
    if (!decision.allowed) throw new Error(`tenant:${i} was denied on its first call`);
    if (i === 199_999) heapAt200k = heap();
  }
  const reported = rs.metrics().stores.m?.keys;
  const storeKeys = typeof reported === "number" ? reported : Number.NaN;
  const result = { calls, maxClones, maxKeys, storeKeys, heapAt200k, heapAtEnd: heap() };
  await rs.close();
  return result;
}

async function expiryPhase(): Promise<Measurements["expiry"]> {
  const keys = 500_000;
  let now = Date.now();
  const store = new MemoryStore({ maxKeys: 2 * keys, now: () => now });
  const short: RateParams = { kind: "fixed_window", limit: 10, windowMs: 1_000 };
  const hot: RateParams = { kind: "token_bucket", intervalMs: 0.001, burst: 1_000_000 };
  // Warm the code paths first, so the baseline holds the compiled code and not only the empty store.
  for (let i = 0; i < 1_000; i++)
    await store.decide([{ limiterId: "w", key: `w${i}`, params: short, cost: 1 }], 0);
  now += 5_000;
  for (let i = 0; i < 1_000; i++)
    await store.decide([{ limiterId: "hot", key: "hot", params: hot, cost: 1 }], 0);
  const heapBaseline = heap();
  for (let i = 0; i < keys; i++) {
    await store.decide(
      [{ limiterId: "api", key: `visitor-${i}-${"x".repeat(32)}`, params: short, cost: 1 }],
      0,
    );
  }
  const heapFilled = heap();
  // Every window has passed; writes to one hot key drive the lazy sweep (a couple of keys per write).
  now += 5_000;
  for (let i = 0; i < keys; i++) {
    await store.decide([{ limiterId: "hot", key: "hot", params: hot, cost: 1 }], 0);
  }
  const result = {
    keys,
    heapBaseline,
    heapFilled,
    heapAfterSweep: heap(),
    keysAfterSweep: store.stats().keys,
  };
  await store.close();
  return result;
}

const measurements: Measurements = {
  keys: await keysPhase(),
  clones: await clonesPhase(),
  expiry: await expiryPhase(),
};
process.stdout.write(`${JSON.stringify(measurements)}\n`);
