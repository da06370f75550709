/**
 * @module
 * Collects the calls a process makes to one store in one event-loop turn and sends them as one batch: one
 * script run or one statement instead of one per call. The fixed cost of a round trip (dispatch, the clock
 * read, the reply; a transaction and a commit on PostgreSQL) is then paid once per turn, not once per call.
 *
 * A batch leaves at the end of the turn in which its first call arrived (`setImmediate`: after the I/O
 * callbacks of this turn and their promise continuations), never on a timer, so a lone call waits for nothing
 * but the rest of its own turn. A batch that reaches its bound on items or bytes leaves at once and the next
 * call starts a new one. Several batches may be in flight at once: the batcher never waits for a reply before
 * sending the next batch.
 */

/** Options of a {@link TurnBatcher}. */
export interface TurnBatcherOptions<I, R> {
  /**
   * Sends one batch. Resolves with one reply per item, in order; rejecting fails every item of the batch with
   * that error. A reply may itself say that its item failed: the caller of {@link TurnBatcher.submit} reads it.
   */
  readonly send: (items: readonly I[]) => Promise<readonly R[]>;
  /** Most items in one batch. @default 256 */
  readonly maxItems?: number;
  /** Most bytes in one batch, as counted by {@link sizeOf}. @default 262_144 (256 KiB) */
  readonly maxBytes?: number;
  /** The size of one item in bytes (its encoded keys and arguments). @default () => 0 */
  readonly sizeOf?: (item: I) => number;
}

/** Counters of a {@link TurnBatcher}, for benchmarks and tests. */
export interface TurnBatcherStats {
  /** Batches sent. */
  readonly batches: number;
  /** Items sent, over all batches. */
  readonly items: number;
  /**
   * How many batches had each size, by powers of two: `sizes[k]` counts batches of `2^(k-1) + 1` to `2^k`
   * items (`sizes[0]`: one item, `sizes[1]`: two, `sizes[2]`: three or four, …).
   */
  readonly sizes: readonly number[];
}

/** The stats of several batchers (a store's batcher per Redis Cluster slot, say) as one. */
export function sumBatcherStats(all: Iterable<TurnBatcherStats>): TurnBatcherStats {
  let batches = 0;
  let items = 0;
  const sizes: number[] = [];
  for (const stats of all) {
    batches += stats.batches;
    items += stats.items;
    stats.sizes.forEach((count, i) => {
      sizes[i] = (sizes[i] ?? 0) + count;
    });
  }
  return { batches, items, sizes: Array.from(sizes, (count) => count ?? 0) };
}

/** One batch being filled: its items and what to tell each item's caller. */
interface Filling<I, R> {
  readonly items: I[];
  readonly resolves: ((reply: R) => void)[];
  readonly rejects: ((error: unknown) => void)[];
  bytes: number;
}

/**
 * Batches the items submitted in one event-loop turn.
 *
 * @example
 * ```ts
 * const batcher = new TurnBatcher<Call, Reply>({ send: (calls) => client.decideBatch(calls), maxItems: 128 });
 * const reply = await batcher.submit(call); // sent with every other call of this turn
 * ```
 */
export class TurnBatcher<I, R> {
  readonly #send: (items: readonly I[]) => Promise<readonly R[]>;
  readonly #maxItems: number;
  readonly #maxBytes: number;
  readonly #sizeOf: ((item: I) => number) | undefined;
  #filling: Filling<I, R> | undefined;
  #batches = 0;
  #items = 0;
  readonly #sizes: number[] = [];
  readonly #flushFilling = (): void => this.#flush();

  constructor(options: TurnBatcherOptions<I, R>) {
    this.#send = options.send;
    this.#maxItems = Math.max(1, options.maxItems ?? 256);
    this.#maxBytes = Math.max(1, options.maxBytes ?? 262_144);
    this.#sizeOf = options.sizeOf;
  }

  /** Adds `item` to this turn's batch; settles with its reply, or with the error that failed its batch. */
  submit(item: I): Promise<R> {
    const bytes = this.#sizeOf?.(item) ?? 0;
    let filling = this.#filling;
    // An item that would push the batch past its byte bound starts the next one (an item bigger than the
    // bound alone still goes, alone).
    if (filling !== undefined && filling.items.length > 0 && filling.bytes + bytes > this.#maxBytes) {
      this.#flush();
      filling = undefined;
    }
    if (filling === undefined) {
      filling = { items: [], resolves: [], rejects: [], bytes: 0 };
      this.#filling = filling;
      setImmediate(this.#flushFilling);
    }
    const batch = filling;
    const reply = new Promise<R>((resolve, reject) => {
      batch.items.push(item);
      batch.resolves.push(resolve);
      batch.rejects.push(reject);
    });
    batch.bytes += bytes;
    if (batch.items.length >= this.#maxItems) this.#flush();
    return reply;
  }

  /** Batch counts and the distribution of batch sizes so far. */
  stats(): TurnBatcherStats {
    return { batches: this.#batches, items: this.#items, sizes: [...this.#sizes] };
  }

  /** Sends the batch being filled, if any (called at the end of the turn, or when it is full). */
  #flush(): void {
    const batch = this.#filling;
    if (batch === undefined) return;
    this.#filling = undefined;
    const count = batch.items.length;
    if (count === 0) return;
    this.#batches += 1;
    this.#items += count;
    const bucket = count <= 1 ? 0 : Math.ceil(Math.log2(count));
    while (this.#sizes.length <= bucket) this.#sizes.push(0);
    this.#sizes[bucket] = (this.#sizes[bucket] ?? 0) + 1;
    let sent: Promise<readonly R[]>;
    try {
      sent = this.#send(batch.items);
    } catch (error) {
      sent = Promise.reject(error);
    }
    sent.then(
      (replies) => {
        if (replies.length !== count) {
          const error = new Error(`a batch of ${count} calls got ${replies.length} replies`);
          for (const reject of batch.rejects) reject(error);
          return;
        }
        for (let i = 0; i < count; i++) batch.resolves[i]!(replies[i]!);
      },
      (error: unknown) => {
        for (const reject of batch.rejects) reject(error);
      },
    );
  }
}
