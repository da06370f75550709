/**
 * @module
 * The `Lease` an `acquire()` returns: the decision, how long it waited, and the concurrency slots to give back.
 */

import type { Decision, Lease } from "../core/types.ts";
import type { LeasePart } from "../decide/engine.ts";
import { LeaseExpiredError } from "../errors.ts";

/** Called after a lease's slots are released, so waiters on its key can retry at once. */
export type ReleaseListener = () => void;

/** A lease over zero or more concurrency slots. */
export class LeaseHandle implements Lease {
  readonly decision: Decision;
  readonly waitedMs: number;
  readonly #parts: readonly LeasePart[];
  readonly #onRelease: ReleaseListener;
  /** Set by the first `release()`; later calls return the same promise (release is idempotent). */
  #released: Promise<void> | undefined;

  constructor(decision: Decision, waitedMs: number, parts: readonly LeasePart[], onRelease: ReleaseListener) {
    this.decision = decision;
    this.waitedMs = waitedMs;
    this.#parts = parts;
    this.#onRelease = onRelease;
  }

  /** Gives back every slot. Idempotent. A store failure is not thrown: the slot then expires after `lease`. */
  release(): Promise<void> {
    this.#released ??= this.#release();
    return this.#released;
  }

  /** Extends every slot by its `lease` time; rejects with `LeaseExpiredError` if one is gone. */
  async renew(): Promise<void> {
    if (this.#released) throw new LeaseExpiredError(this.decision.key);
    const renewed = await Promise.all(
      this.#parts.map((part) => part.store.renew(part.limiterId, part.storeKey, part.leaseId, part.leaseMs)),
    );
    if (renewed.includes(false)) throw new LeaseExpiredError(this.decision.key);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  async #release(): Promise<void> {
    if (this.#parts.length === 0) return;
    await Promise.allSettled(
      this.#parts.map((part) => part.store.release(part.limiterId, part.storeKey, part.leaseId)),
    );
    this.#onRelease();
  }
}
