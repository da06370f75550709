/**
 * @module
 * The `Lease` an `acquire()` returns: the decision, how long it waited, and the concurrency slots to give back.
 */

import type { TypedEmitter } from "../core/events.ts";
import type { Decision, Lease, RateSyncEvents } from "../core/types.ts";
import type { LeasePart } from "../decide/engine.ts";
import { LeaseExpiredError } from "../errors.ts";
import type { LimiterEntry } from "../limiters/registry.ts";

/** Called after a lease's slots are released, so waiters on its key can retry at once. */
export type ReleaseListener = () => void;

/**
 * Who holds the slots of a lease, for the `activeLeases` gauges and the `leaseReleased` event: the limiters
 * with `max_concurrent` among its members.
 */
export interface SlotHolders {
  /** Each limiter with a slot in the lease, and the key it holds the slot for. */
  readonly slots: readonly { readonly entry: LimiterEntry; readonly key: string }[];
  readonly events: TypedEmitter<RateSyncEvents>;
  /** The instance's clock (milliseconds), and when the slots were taken by it. */
  readonly now: () => number;
  readonly since: number;
}

/** A lease over zero or more concurrency slots. */
export class LeaseHandle implements Lease {
  readonly decision: Decision;
  readonly waitedMs: number;
  readonly #parts: readonly LeasePart[];
  readonly #onRelease: ReleaseListener;
  readonly #holders: SlotHolders | undefined;
  /** Set by the first `release()`; later calls return the same promise (release is idempotent). */
  #released: Promise<void> | undefined;

  constructor(
    decision: Decision,
    waitedMs: number,
    parts: readonly LeasePart[],
    onRelease: ReleaseListener,
    holders?: SlotHolders,
  ) {
    this.decision = decision;
    this.waitedMs = waitedMs;
    this.#parts = parts;
    this.#onRelease = onRelease;
    if (parts.length > 0 && holders !== undefined && holders.slots.length > 0) {
      this.#holders = holders;
      for (const { entry } of holders.slots) entry.counters.activeLeases++;
    }
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
    this.#countReleased();
    await Promise.allSettled(
      this.#parts.map((part) => part.store.release(part.limiterId, part.storeKey, part.leaseId)),
    );
    this.#onRelease();
  }

  /** The slots leave the gauges at once (the store call that frees them may still be in flight). */
  #countReleased(): void {
    const holders = this.#holders;
    if (holders === undefined) return;
    for (const { entry } of holders.slots) entry.counters.activeLeases--;
    if (!holders.events.hasListeners("leaseReleased")) return;
    const heldMs = holders.now() - holders.since;
    for (const { entry, key } of holders.slots) {
      holders.events.emit("leaseReleased", { limiter: entry.id, key, heldMs });
    }
  }
}
