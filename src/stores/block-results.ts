/**
 * @module
 * How a block shows in an op's result, the same on every store: the op that carries the block (`StoreOp.block`)
 * is reported denied, with nothing left, and a `retryAfterMs` (and `resetAfterMs`) that covers the time left in
 * the block. Remote stores send a block as one more op of the call, right before the op that carries it (the
 * "block op"); {@link foldBlockResults} folds its result back into that op's.
 */

import type { BlockReport } from "../algorithms/block/decide.ts";
import type { OpResult, StoreOp } from "./store.ts";

/** An op's result when its key is blocked: denied, nothing left, retry no sooner than the block ends. */
export function blockedResult(result: OpResult, report: BlockReport): OpResult {
  const own = result.allowed ? 0 : result.retryAfterMs;
  return {
    allowed: false,
    limit: result.limit,
    remaining: 0,
    resetAfterMs: Math.max(result.resetAfterMs, report.leftMs),
    retryAfterMs: Math.max(own, report.leftMs),
    waitMs: 0,
    block: report,
  };
}

/** True when some op of a call carries a block (so a remote store sends its block ops). */
export function hasBlock(ops: readonly StoreOp[]): boolean {
  for (const op of ops) if (op.block !== undefined) return true;
  return false;
}

/** How many ops a call sends when each block travels as an op of its own. */
export function wireOpCount(ops: readonly StoreOp[]): number {
  let count = ops.length;
  for (const op of ops) if (op.block !== undefined) count++;
  return count;
}

/**
 * The block op's reply, in the six numbers every op replies with: `allowed` = 1 when the key was not blocked
 * before the call; `limit` = how many blocks in a row the block is; `remaining` = 1 when this call started it;
 * `retryAfterMs` = the time left in it (0: no block). Turned into the report on the op that carries the block,
 * or `undefined` when the key is not blocked.
 */
export function blockReportOf(wire: OpResult): BlockReport | undefined {
  if (!(wire.retryAfterMs > 0)) return undefined;
  return { started: wire.remaining === 1, count: wire.limit, leftMs: wire.retryAfterMs };
}

/** The results of `ops` from the results of the ops sent (each block op before the op carrying it). */
export function foldBlockResults(ops: readonly StoreOp[], wire: readonly OpResult[]): OpResult[] {
  const out: OpResult[] = new Array(ops.length);
  let at = 0;
  for (let i = 0; i < ops.length; i++) {
    if (ops[i]!.block === undefined) {
      out[i] = wire[at++]!;
      continue;
    }
    const report = blockReportOf(wire[at]!);
    const own = wire[at + 1]!;
    at += 2;
    out[i] = report === undefined ? own : blockedResult(own, report);
  }
  return out;
}
