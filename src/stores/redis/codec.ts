/**
 * @module
 * Turns store ops into the KEYS and ARGV of the Lua scripts (a batch of decisions, the lean script of a lone
 * decision, peek, refund), and script replies back into results. Numbers go out with `String(n)` (the shortest text that round-trips a double exactly) and come back
 * as Redis integers (whole numbers) or as exact text (`%.17g`, `inf`).
 */

import { BLOCK_TAG } from "../../algorithms/block/decide.ts";
import { BLOCK_KIND_CODE } from "../../algorithms/block/lua.ts";
import { ALGORITHMS, kindCode, paramPair, stateTag } from "../../algorithms/registry.ts";
import type { LimitParams } from "../../algorithms/types.ts";
import { InvalidArgumentError } from "../../errors.ts";
import { wireOpCount } from "../block-results.ts";
import type { OpResult, StoreOp } from "../store.ts";
import { leaseKey, stateKey } from "./keys.ts";
import type { LeanKindCode } from "./lua.ts";

/** KEYS and ARGV of one script call. */
export interface ScriptCall {
  readonly keys: string[];
  readonly args: string[];
}

/** A decoded script reply: the store time of the decision, and one result per op. */
export interface DecodedReply {
  /** The store's clock (ms since the epoch) when the script ran. */
  readonly storeNowMs: number;
  readonly allAllowed: boolean;
  readonly results: OpResult[];
}

/** Values per op in a decide or peek reply: allowed, limit, remaining, resetAfter, retryAfter, wait. */
const RESULT_STRIDE = 6;

/** The two numbers of an op's params as ARGV text (see `paramPair`). */
function paramsArgs(params: LimitParams): [string, string] {
  const [p1, p2] = paramPair(params);
  return [String(p1), String(p2)];
}

/** The Redis key that holds an op's state (the rate hash or the lease set). */
export function keyOfOp(prefix: string, op: StoreOp): string {
  return op.params.kind === "concurrency"
    ? leaseKey(prefix, op.limiterId, op.key)
    : stateKey(prefix, op.limiterId, op.key);
}

/**
 * The block op of an op that carries a block (see `src/algorithms/block/lua.ts`), sent right before it: its key
 * (the rate state hash) and its six values.
 */
function pushBlockOp(prefix: string, op: StoreOp, keys: string[], args: string[]): void {
  const block = op.block;
  if (block === undefined) return;
  keys.push(stateKey(prefix, op.limiterId, op.key));
  args.push(
    BLOCK_KIND_CODE,
    BLOCK_TAG,
    String(block.memoryMs),
    String(block.span),
    "0",
    block.durationsMs.map(String).join(","),
  );
}

/**
 * Encodes ops for the peek and refund scripts.
 *
 * @param needLeaseIds False for peeks: looking at a lease set takes no lease, so it needs no id.
 * @param withBlocks True for peeks: each block goes as a block op before its op (a refund leaves blocks alone).
 * @throws InvalidArgumentError when a concurrency op that takes a lease has no lease id.
 */
export function encodeOps(
  prefix: string,
  ops: readonly StoreOp[],
  maxWaitMs: number,
  needLeaseIds = true,
  withBlocks = false,
): ScriptCall {
  const keys: string[] = [];
  const args: string[] = [String(maxWaitMs), String(withBlocks ? wireOpCount(ops) : ops.length)];
  for (const op of ops) {
    if (needLeaseIds && op.params.kind === "concurrency" && (op.leaseId === undefined || op.leaseId === "")) {
      throw new InvalidArgumentError(`A concurrency op on ${JSON.stringify(op.key)} needs a leaseId`);
    }
    if (withBlocks) pushBlockOp(prefix, op, keys, args);
    keys.push(keyOfOp(prefix, op));
    const [p1, p2] = paramsArgs(op.params);
    args.push(kindCode(op.params), stateTag(op.params), p1, p2, String(op.cost), op.leaseId ?? "");
  }
  return { keys, args };
}

/**
 * The peek or refund script call of several calls (each encoded by {@link encodeOps}), one after the other: their
 * keys and ops concatenated under one op count. Both scripts take each op on its own, reading the state as the
 * ops before it left it, so one run of the concatenation does exactly what the calls would do run by run at the
 * same store time. (A peek call's maxWaitMs is always 0, so the joined header's 0 is each call's own.)
 */
export function joinCalls(calls: readonly ScriptCall[]): ScriptCall {
  if (calls.length === 1) return calls[0] as ScriptCall;
  const keys: string[] = [];
  const args: string[] = ["0", "0"];
  for (const call of calls) {
    for (const key of call.keys) keys.push(key);
    // Past the header (maxWaitMs, op count): the call's ops.
    for (let i = 2; i < call.args.length; i++) args.push(call.args[i] as string);
  }
  args[1] = String(keys.length);
  return { keys, args };
}

/**
 * Encodes one decision for the batch decide script (see `BATCH_DECIDE_SCRIPT`): its keys, and its ARGV part
 * (op count, maxWaitMs, deadline, then the ops).
 *
 * @param deadline The deadline's ARGV text (see {@link deadlineArg}).
 * @throws InvalidArgumentError when a concurrency op has no lease id.
 */
export function encodeCall(
  prefix: string,
  ops: readonly StoreOp[],
  maxWaitMs: number,
  deadline: string,
): ScriptCall {
  const keys: string[] = [];
  const args: string[] = [String(wireOpCount(ops)), String(maxWaitMs), deadline];
  for (const op of ops) {
    const { params } = op;
    if (params.kind === "concurrency" && (op.leaseId === undefined || op.leaseId === "")) {
      throw new InvalidArgumentError(`A concurrency op on ${JSON.stringify(op.key)} needs a leaseId`);
    }
    if (op.block !== undefined) pushBlockOp(prefix, op, keys, args);
    keys.push(keyOfOp(prefix, op));
    const [p1, p2] = paramsArgs(params);
    args.push(kindCode(params), stateTag(params), p1, p2, String(op.cost), op.leaseId ?? "");
  }
  return { keys, args };
}

/** The size of an encoded call in a batch (characters of its keys and arguments), for the batch's byte bound. */
export function callSize(call: ScriptCall): number {
  let size = 0;
  for (const key of call.keys) size += key.length;
  for (const arg of call.args) size += arg.length + 1;
  return size;
}

/**
 * The `numberOfKeys, ...KEYS, ARGV[1]` of one run of the batch decide script over `calls`, in order. The
 * arguments go packed into one string, each followed by a space (the script unpacks them into ARGV): none of
 * them holds a space (codes, state tags, numbers, lease ids; keys travel in KEYS). One argument instead of ten
 * per call spares the client most of its per-argument work (ioredis flattens, measures and frames each one):
 * measured, Redis hot key, 64 in flight, 32 calls per run, decisions per client CPU-second 105k unpacked,
 * 146–151k packed.
 */
export function encodeBatch(calls: readonly ScriptCall[]): (string | number)[] {
  let keyCount = 0;
  for (const call of calls) keyCount += call.keys.length;
  const out: (string | number)[] = [keyCount];
  let packed = `${calls.length} `;
  for (const call of calls) {
    for (const key of call.keys) out.push(key);
    for (const arg of call.args) packed += `${arg} `;
  }
  out.push(packed);
  return out;
}

/**
 * Splits a batch decide reply into the replies of its `count` calls (each in the single-call format that
 * {@link decodeReply} and {@link pastDeadlineTime} read).
 *
 * @throws TypeError when the reply is not one array per call.
 */
export function splitBatchReply(reply: unknown, count: number): readonly unknown[] {
  if (!Array.isArray(reply) || reply.length !== count) {
    throw new TypeError(
      `unexpected batch reply shape (${Array.isArray(reply) ? reply.length : typeof reply} for ${count} calls)`,
    );
  }
  return reply;
}

/**
 * Splits the reply of a peek script run over joined calls (see {@link joinCalls}) into one reply per call, each
 * in the format {@link decodeReply} reads: the run's store time, then the call's own `opCounts[i]` results.
 *
 * @throws TypeError when the reply does not hold the results of every op.
 */
export function splitPeekReply(reply: unknown, opCounts: readonly number[]): readonly unknown[] {
  let total = 0;
  for (const count of opCounts) total += count;
  if (!Array.isArray(reply) || reply.length !== 2 + RESULT_STRIDE * total) {
    throw new TypeError(
      `unexpected peek reply shape (${Array.isArray(reply) ? reply.length : typeof reply} for ${total} ops)`,
    );
  }
  if (opCounts.length === 1) return [reply];
  const replies: unknown[] = [];
  let at = 2;
  for (const count of opCounts) {
    const end = at + RESULT_STRIDE * count;
    replies.push([reply[0], reply[1], ...reply.slice(at, end)]);
    at = end;
  }
  return replies;
}

/** Script, key and ARGV of a lean single-op decide (see `LEAN_DECIDE_SCRIPTS`). */
export interface LeanCall {
  readonly kind: LeanKindCode;
  readonly key: string;
  readonly args: string[];
}

/** The kind codes that have a lean script: every rate algorithm. */
const LEAN_KINDS: ReadonlySet<string> = new Set(Object.values(ALGORITHMS).map((spec) => spec.code));

/**
 * The lean decide script call of an encoded call (see {@link encodeCall}) of exactly one rate op, or
 * `undefined` when the call needs the batch script (a composite, or a concurrency op: leases live in a sorted
 * set and take a lease id). Sent instead of a batch of one: the same state, math and reply, less Lua work.
 */
export function leanOf(call: ScriptCall): LeanCall | undefined {
  const { keys, args } = call;
  // args: op count, maxWaitMs, deadline, then kind, tag, p1, p2, cost, lease id.
  if (keys.length !== 1) return undefined;
  const kind = args[3] as string;
  if (!LEAN_KINDS.has(kind)) return undefined;
  return {
    kind: kind as LeanKindCode,
    key: keys[0] as string,
    args: [args[4], args[5], args[6], args[7], args[1], args[2]] as string[],
  };
}

function toNumber(value: unknown): number {
  if (value === "inf") return Number.POSITIVE_INFINITY;
  if (value === "-inf") return Number.NEGATIVE_INFINITY;
  const n = typeof value === "number" ? value : Number(value);
  if (Number.isNaN(n)) throw new TypeError(`unexpected number in script reply: ${JSON.stringify(value)}`);
  return n;
}

/** The ARGV text of a decide deadline (store clock, ms since the epoch); empty for none. */
export function deadlineArg(deadlineMs: number | undefined): string {
  return deadlineMs === undefined ? "" : String(deadlineMs);
}

/**
 * The store time of a decide reply that says the call reached Redis after its deadline (`[nowMs, -1]`: nothing
 * applied), else `undefined`.
 */
export function pastDeadlineTime(reply: unknown): number | undefined {
  if (!Array.isArray(reply) || reply.length !== 2 || Number(reply[1]) !== -1) return undefined;
  return toNumber(reply[0]);
}

/** Decodes `[now, allAllowed, (allowed, limit, remaining, resetAfter, retryAfter, wait) per op]`. */
export function decodeReply(reply: unknown, opCount: number): DecodedReply {
  if (!Array.isArray(reply) || reply.length !== 2 + RESULT_STRIDE * opCount) {
    throw new TypeError(
      `unexpected script reply shape (${Array.isArray(reply) ? reply.length : typeof reply})`,
    );
  }
  const results: OpResult[] = [];
  for (let i = 0; i < opCount; i++) {
    const at = 2 + RESULT_STRIDE * i;
    results.push({
      allowed: toNumber(reply[at]) === 1,
      limit: toNumber(reply[at + 1]),
      remaining: toNumber(reply[at + 2]),
      resetAfterMs: Math.max(0, toNumber(reply[at + 3])),
      retryAfterMs: Math.max(0, toNumber(reply[at + 4])),
      waitMs: toNumber(reply[at + 5]),
    });
  }
  return { storeNowMs: toNumber(reply[0]), allAllowed: toNumber(reply[1]) === 1, results };
}

/** Decodes a reply that is just the store time (refund). */
export function decodeTime(reply: unknown): number {
  return toNumber(reply);
}
