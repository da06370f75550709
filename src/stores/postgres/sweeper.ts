/**
 * @module
 * Deletes expired rows in the background, a small batch at a time, so no decision ever pays for cleanup and no
 * statement ever scans the whole table.
 */

/** How a sweeper reaches the database. */
export interface ExpirySweeperOptions {
  /** Time between two sweeps in ms; `0` disables the background sweep. */
  readonly intervalMs: number;
  /** Rows per delete statement. */
  readonly batchSize: number;
  /** Deletes at most `limit` expired rows and says how many went. */
  readonly sweepBatch: (limit: number) => Promise<number>;
}

/** At most this many batches per sweep: a backlog is worked off over several sweeps, never in one long burst. */
const MAX_BATCHES_PER_SWEEP = 10;

/** Periodically deletes expired rows. The timer is unref'd (it never keeps a process alive) and stopped by `stop()`. */
export class ExpirySweeper {
  readonly #options: ExpirySweeperOptions;
  #timer: NodeJS.Timeout | undefined;
  /** True while a sweep runs: a slow sweep is never overlapped by the next tick. */
  #sweeping = false;
  #stopped = false;

  constructor(options: ExpirySweeperOptions) {
    this.#options = options;
  }

  /** Starts the periodic sweep (idempotent; a stopped sweeper stays stopped). */
  start(): void {
    if (this.#timer !== undefined || this.#stopped || this.#options.intervalMs <= 0) return;
    this.#timer = setInterval(() => void this.#tick(), this.#options.intervalMs);
    this.#timer.unref();
  }

  /** Stops the periodic sweep for good. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Sweeps now: batches of `batchSize` until one comes back short (at most a few). Returns the rows deleted. */
  async sweepNow(batchSize: number = this.#options.batchSize): Promise<number> {
    let total = 0;
    for (let i = 0; i < MAX_BATCHES_PER_SWEEP; i++) {
      const deleted = await this.#options.sweepBatch(batchSize);
      total += deleted;
      if (deleted < batchSize) break;
    }
    return total;
  }

  async #tick(): Promise<void> {
    if (this.#sweeping) return;
    this.#sweeping = true;
    try {
      await this.sweepNow();
    } catch {
      // A failed sweep is retried on the next tick; the failure is already counted by the store's call guard.
    } finally {
      this.#sweeping = false;
    }
  }
}
