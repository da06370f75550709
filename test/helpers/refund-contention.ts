/**
 * @module
 * The refund and settle contention check, shared by every store it runs on: 4 processes × 64 in flight call
 * `tryAcquire(key, { cost: estimate })` on a fixed window and give back down to a random actual cost (`rs.refund`,
 * or the decision's `settle`). A fixed window admits a call only while the count (the estimates of calls still
 * working plus the actual costs of those done) leaves room for its estimate, so the actual usage of the admitted
 * calls never passes the limit, and the window's count is exactly that usage once every refund landed.
 */

import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { RateSync } from "../../src/index.ts";
import { startForked } from "./fork-workers.ts";
import type { RefundReport } from "./refund-worker.ts";

const WORKER = fileURLToPath(new URL("./refund-worker.ts", import.meta.url));

/** The scenario: a config whose limiter `key` is a fixed window of `limit`, and how the unused part goes back. */
export interface RefundContention {
  readonly config: Record<string, unknown>;
  readonly key: string;
  readonly limit: number;
  readonly estimate: number;
  readonly via: "refund" | "settle";
}

/** Runs the scenario and checks it (see the module's doc). */
export async function expectRefundContentionHolds(run: RefundContention): Promise<void> {
  const { config, key, limit, estimate, via } = run;
  const workers = await startForked<RefundReport>(WORKER, 4, {
    config,
    key,
    total: 100,
    inFlight: 64,
    estimate,
    via,
  });
  const reports = await Promise.all(workers.map((w) => w.report));
  expect(reports.reduce((n, r) => n + r.errors, 0)).toBe(0);
  expect(reports.reduce((n, r) => n + r.allowed + r.denied, 0)).toBe(400);
  const admitted = reports.reduce((n, r) => n + r.allowed, 0);
  const used = reports.reduce((n, r) => n + r.used, 0);
  // The first limit / estimate calls always fit; refunds and settles can only make room for more.
  expect(admitted).toBeGreaterThanOrEqual(limit / estimate);
  expect(used).toBeLessThanOrEqual(limit);
  const rs = RateSync.fromConfig(config, { quiet: true });
  try {
    // Every refund landed: the window counts exactly the actual costs of the admitted calls.
    expect((await rs.peek(key)).remaining).toBe(limit - used);
  } finally {
    await rs.close();
  }
}
