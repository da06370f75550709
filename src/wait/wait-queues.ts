/**
 * @module
 * First-in, first-out waiting per key within one process. Only the head of a key's queue asks the store; the
 * others wait their turn, so a later caller never overtakes an earlier one and N waiters cost one store call
 * per retry, not N.
 */

import { abortReason, createSleeper, type Sleeper } from "./sleep.ts";

/** One waiting `acquire()`. */
export interface Waiter {
  /** Its sleep between retries; a release on the key wakes it early. */
  readonly sleeper: Sleeper;
  /** Resolves the promise of `enter` when the waiter reaches the head. */
  start(): void;
}

/** The per-key queues of one RateSync instance. */
export class WaitQueues {
  readonly #queues = new Map<string, Waiter[]>();
  /** The limiter ids of each queue's key (several for a composite), for {@link wakeLimiter}. */
  readonly #limiters = new Map<string, readonly string[]>();

  /** True when somebody is waiting on `key` (a new caller must then queue behind them). */
  has(key: string): boolean {
    return this.#queues.has(key);
  }

  /**
   * Joins the queue of `key` and resolves once at its head. Rejects with the abort reason (having left the
   * queue) if `signal` aborts first.
   */
  enter(key: string, signal: AbortSignal | undefined, limiterIds: readonly string[] = []): Promise<Waiter> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    let queue = this.#queues.get(key);
    if (!queue) {
      queue = [];
      this.#queues.set(key, queue);
      this.#limiters.set(key, limiterIds);
    }
    return new Promise<Waiter>((resolve, reject) => {
      const onAbort = () => {
        this.leave(key, waiter);
        reject(abortReason(signal!));
      };
      const waiter: Waiter = {
        sleeper: createSleeper(),
        start: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(waiter);
        },
      };
      queue.push(waiter);
      if (queue.length === 1) waiter.start();
      else signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Leaves the queue of `key`; when the head leaves, the next waiter starts. */
  leave(key: string, waiter: Waiter): void {
    const queue = this.#queues.get(key);
    if (!queue) return;
    const index = queue.indexOf(waiter);
    if (index === -1) return;
    queue.splice(index, 1);
    if (queue.length === 0) {
      this.#queues.delete(key);
      this.#limiters.delete(key);
    } else if (index === 0) queue[0]!.start();
  }

  /** Wakes the head of `key`'s queue (a slot was released here): it retries now instead of at its hint. */
  wake(key: string): void {
    this.#queues.get(key)?.[0]?.sleeper.wake();
  }

  /**
   * Wakes the head of every queue whose key belongs to limiter `limiterId` (its state was cleared): each retries
   * now instead of sleeping out a hint the cleared state gave. Walks the queues: one per key with waiters.
   */
  wakeLimiter(limiterId: string): void {
    for (const [key, ids] of this.#limiters) if (ids.includes(limiterId)) this.wake(key);
  }

  /** Keys with waiters now. */
  get size(): number {
    return this.#queues.size;
  }
}
