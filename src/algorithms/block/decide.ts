/**
 * @module
 * Blocking after a denial (`block`, `block_escalation`, `block_memory`): the TypeScript model of the one piece of
 * state a block keeps per `(limiterId, key)`, under its own state tag {@link BLOCK_TAG}. The memory and SQLite
 * stores run it directly; the Redis (`lua.ts`) and PostgreSQL (`sql.ts`) stores encode the same rules in the
 * script and the function that decide the limit, so a block starts and holds in the same atomic step.
 *
 * The rules, on every store:
 * - a call on a key whose block is running is denied (`retryAfterMs` = the time left) and consumes nothing;
 * - a call the limiter's rate limit(s) deny, on a key not blocked, starts a block — the one write a denial makes.
 *   Its length is `durationsMs[n - 1]` (the last repeats), where `n` counts the blocks in a row: a block that
 *   starts less than `memoryMs` after the previous one ended is the next in the row, otherwise `n` starts at 1;
 * - the state lives `length + memoryMs` from the block's start, then is forgotten.
 */

/** The state tag of a block: one per `(limiterId, key)`, beside the rate states. */
export const BLOCK_TAG = "blk";

/** A limiter's block, as the store sees it on the first of the limiter's rate ops. */
export interface BlockSpec {
  /** The length of the 1st, 2nd, … block in a row, in ms (at least one; the last repeats). */
  readonly durationsMs: readonly number[];
  /** How long after a block ends the next one still counts as a repeat (escalates), in ms. */
  readonly memoryMs: number;
  /**
   * How many rate ops of the limiter start here (this op and the ones right after it in the call): a denial by
   * any of them starts the block.
   */
  readonly span: number;
}

/** A block's stored state. */
export interface BlockState {
  /** Store time (ms) the block ends. */
  readonly untilMs: number;
  /** How many blocks in a row this one is (1 for the first). */
  readonly count: number;
}

/** What a block says about a call (reported on the op that carries the block, see `OpResult.block`). */
export interface BlockReport {
  /** True when this call started the block (a `blocked` event); false when it ran into a running one. */
  readonly started: boolean;
  /** How many blocks in a row the block is (1 for the first). */
  readonly count: number;
  /** Milliseconds left in the block (its whole length when it just started). */
  readonly leftMs: number;
}

/** Milliseconds left in a block at `nowMs`; 0 when there is none (absent, or ended). */
export function blockLeftMs(state: BlockState | undefined, nowMs: number): number {
  if (state === undefined) return 0;
  return Math.max(state.untilMs - nowMs, 0);
}

/** The block a denial starts at `nowMs`: its state, and how long that state must be kept (TTL). */
export function startBlock(
  spec: BlockSpec,
  previous: BlockState | undefined,
  nowMs: number,
): { readonly state: BlockState; readonly ttlMs: number; readonly lengthMs: number } {
  const repeat = previous !== undefined && nowMs < previous.untilMs + spec.memoryMs;
  const count = repeat ? previous.count + 1 : 1;
  const durations = spec.durationsMs;
  const lengthMs = durations[Math.min(count, durations.length) - 1] as number;
  return { state: { untilMs: nowMs + lengthMs, count }, ttlMs: lengthMs + spec.memoryMs, lengthMs };
}
