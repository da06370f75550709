/**
 * @module
 * The argument checks every store makes before it sends anything, so a bad call fails the same way on each
 * engine and never reaches the wire.
 */

import { InvalidArgumentError } from "../../errors.ts";
import type { StoreOp } from "../store.ts";

/** Throws an {@link InvalidArgumentError} unless every op has a positive finite cost. */
export function validateCosts(ops: readonly StoreOp[]): void {
  for (const op of ops) {
    if (!(op.cost > 0) || !Number.isFinite(op.cost)) {
      throw new InvalidArgumentError(`cost must be a positive finite number, got ${op.cost}`);
    }
  }
}

/** The checks of a decision: a budget of at least 0, valid costs, and a lease id for every concurrency op. */
export function validateDecision(ops: readonly StoreOp[], maxWaitMs: number): void {
  if (!(maxWaitMs >= 0)) throw new InvalidArgumentError(`maxWaitMs must be >= 0, got ${maxWaitMs}`);
  validateCosts(ops);
  for (const op of ops) {
    if (op.params.kind === "concurrency" && (op.leaseId === undefined || op.leaseId === "")) {
      throw new InvalidArgumentError(`A concurrency decision needs a leaseId (limiter "${op.limiterId}")`);
    }
  }
}

/** Throws an {@link InvalidArgumentError} unless `leaseMs` is a positive finite number. */
export function validateLeaseMs(leaseMs: number): void {
  if (!(leaseMs > 0) || !Number.isFinite(leaseMs)) {
    throw new InvalidArgumentError(`leaseMs must be a positive finite number, got ${leaseMs}`);
  }
}
