/**
 * @module
 * What the stores that decide in this process (memory, SQLite) share: an op's outcome from its state, a peek, and
 * a composite decided all or nothing. Each store says only where an op's state lives and how to read and write
 * it; the rules are written once.
 */

import { type BlockState, blockLeftMs, startBlock } from "../algorithms/block/decide.ts";
import { acquireLease, peekConcurrency } from "../algorithms/concurrency/index.ts";
import { decide, peek } from "../algorithms/index.ts";
import type { ConcurrencyState, Outcome, PeekOutcome } from "../algorithms/types.ts";
import { InvalidArgumentError } from "../errors.ts";
import { blockedResult } from "./block-results.ts";
import type { BatchResult, OpResult, StoreOp } from "./store.ts";

/** The decision of one op from its current state: the algorithm's, or a lease for a concurrency op. */
export function outcomeOf(op: StoreOp, state: unknown, now: number, maxWaitMs: number): Outcome<unknown> {
  if (op.params.kind === "concurrency") {
    if (op.leaseId === undefined) {
      throw new InvalidArgumentError(`A concurrency decision needs a leaseId (limiter "${op.limiterId}")`);
    }
    return acquireLease(op.params, state as ConcurrencyState | undefined, now, op.leaseId);
  }
  return decide(op.params, { state, nowMs: now, cost: op.cost, maxWaitMs });
}

/** An outcome's result fields (without its state). */
export function toResult(outcome: Outcome<unknown>): OpResult {
  return {
    allowed: outcome.allowed,
    limit: outcome.limit,
    remaining: outcome.remaining,
    resetAfterMs: outcome.resetAfterMs,
    retryAfterMs: outcome.retryAfterMs,
    waitMs: outcome.waitMs,
  };
}

/**
 * A peek of one op on its current state: the counts from the algorithm's peek (nothing consumed); whether a call
 * would pass, and when, from a decision not applied.
 */
export function peekResult(op: StoreOp, state: unknown, now: number): OpResult {
  let view: PeekOutcome;
  let dryRun: Outcome<unknown>;
  if (op.params.kind === "concurrency") {
    const leases = state as ConcurrencyState | undefined;
    view = peekConcurrency(op.params, leases, now);
    dryRun = acquireLease(op.params, leases, now, "");
  } else {
    view = peek(op.params, state, now);
    dryRun = decide(op.params, { state, nowMs: now, cost: op.cost, maxWaitMs: 0 });
  }
  return {
    allowed: dryRun.allowed,
    limit: view.limit,
    remaining: view.remaining,
    resetAfterMs: view.resetAfterMs,
    retryAfterMs: dryRun.retryAfterMs,
    waitMs: 0,
  };
}

/** Where a store keeps the state of an op (`Ref`), and how to read and write it at the decision's instant. */
export interface InProcessStates<Ref> {
  refOf(op: StoreOp): Ref;
  /** Whether two refs name the same state. */
  same(a: Ref, b: Ref): boolean;
  read(ref: Ref): unknown;
  write(ref: Ref, state: unknown, ttlMs: number): void;
  /** Where the block state of an op's `(limiterId, key)` lives (read and written as any other state). */
  blockRefOf(op: StoreOp): Ref;
}

/**
 * A peek's result with the op's block (when it carries one and its key is blocked): denied, nothing left, the
 * time left in the block as the retry. `blockState` is the stored block state.
 */
export function peekBlocked(result: OpResult, blockState: unknown, now: number): OpResult {
  const state = blockState as BlockState | undefined;
  const leftMs = blockLeftMs(state, now);
  if (leftMs === 0 || state === undefined) return result;
  return blockedResult(result, { started: false, count: state.count, leftMs });
}

/**
 * A composite decided all or nothing: every op is decided first, and the states are written only when all are
 * allowed. An op on the same state as an earlier op sees the state that op would leave, as if they ran one
 * after the other; the writes go in order, so a state chained through several ops ends as the last left it.
 *
 * An op that carries a block (`op.block`) is denied while its key's block runs; when the call is denied by one of
 * the rate ops the block covers, on a key not blocked, the block starts: its state is the one write a denial
 * makes (see `src/algorithms/block/`).
 */
export function decideComposite<Ref>(
  ops: readonly StoreOp[],
  maxWaitMs: number,
  now: number,
  states: InProcessStates<Ref>,
): BatchResult {
  const count = ops.length;
  const refs: Ref[] = new Array(count);
  const outcomes: Outcome<unknown>[] = new Array(count);
  const results: OpResult[] = new Array(count);
  let allowed = true;
  for (let i = 0; i < count; i++) {
    const op = ops[i] as StoreOp;
    const ref = states.refOf(op);
    let earlier = i - 1;
    while (earlier >= 0 && !states.same(refs[earlier] as Ref, ref)) earlier--;
    const state = earlier >= 0 ? (outcomes[earlier] as Outcome<unknown>).state : states.read(ref);
    const outcome = outcomeOf(op, state, now, maxWaitMs);
    refs[i] = ref;
    outcomes[i] = outcome;
    results[i] = toResult(outcome);
    if (!outcome.allowed) allowed = false;
    if (op.block !== undefined) {
      const blockState = states.read(states.blockRefOf(op));
      const blocked = peekBlocked(results[i] as OpResult, blockState, now);
      if (blocked.block !== undefined) {
        results[i] = blocked;
        allowed = false;
      }
    }
  }
  if (!allowed) {
    for (let i = 0; i < count; i++) startBlockOf(ops, i, outcomes, results, now, states);
  } else {
    for (let i = 0; i < count; i++) {
      const outcome = outcomes[i] as Outcome<unknown>;
      states.write(refs[i] as Ref, outcome.state, outcome.ttlMs);
    }
  }
  return { allowed, results };
}

/**
 * Starts the block of op `i` of a denied call when the op carries one, its key was not blocked, and one of the
 * rate ops the block covers (op `i` and the `span - 1` after it) was denied.
 */
function startBlockOf<Ref>(
  ops: readonly StoreOp[],
  i: number,
  outcomes: readonly Outcome<unknown>[],
  results: OpResult[],
  now: number,
  states: InProcessStates<Ref>,
): void {
  const spec = ops[i]!.block;
  if (spec === undefined || results[i]!.block !== undefined) return;
  let denied = false;
  for (let j = i; j < i + spec.span && j < ops.length; j++) if (!outcomes[j]!.allowed) denied = true;
  if (!denied) return;
  const ref = states.blockRefOf(ops[i]!);
  const previous = states.read(ref) as BlockState | undefined;
  const leftMs = blockLeftMs(previous, now);
  if (previous !== undefined && leftMs > 0) {
    // An earlier op of this call (the same limiter and key twice) started it: one denial, one block.
    results[i] = blockedResult(results[i]!, { started: false, count: previous.count, leftMs });
    return;
  }
  const started = startBlock(spec, previous, now);
  states.write(ref, started.state, started.ttlMs);
  results[i] = blockedResult(results[i]!, {
    started: true,
    count: started.state.count,
    leftMs: started.lengthMs,
  });
}
