/**
 * @module
 * How `acquire()` waits: token and leaky buckets reserve their slot in the store and sleep until it; other
 * limits retry at their exact hint (plus jitter); a wait that cannot fit in the timeout is refused at once.
 * Waiters on one key in one process queue first-in, first-out, and a release here wakes the head at once.
 */

import { describeValue, parseDuration } from "../config/units.ts";
import { recordWait } from "../core/metrics.ts";
import type { AcquireOptions, Decision } from "../core/types.ts";
import type { Engine, EngineOutcome, Member } from "../decide/engine.ts";
import { InvalidArgumentError, isRateLimitExceededError, RateLimitExceededError } from "../errors.ts";
import type { LimiterEntry } from "../limiters/registry.ts";
import { LeaseHandle, type SlotHolders } from "./lease.ts";
import { abortReason, sleep } from "./sleep.ts";
import { WaitQueues } from "./wait-queues.ts";

/** A reservation budget that stands for "no timeout" (about 31 years): finite, so every store can take it. */
const UNBOUNDED_WAIT_MS = 1e12;
/**
 * Concurrency slots freed by another process are not announced, so waiters on a concurrency limit retry at
 * least this often (a release in this process wakes them at once).
 */
const CONCURRENCY_RETRY_MS = 100;

function jitter(ms: number): number {
  // Up to 10% (at most 50 ms) later, so waiters released by one window edge do not retry in lockstep.
  return ms + Math.random() * Math.min(50, ms * 0.1) + 1;
}

/** The timeout of a call in ms (`null`: none): the option, else the tightest limiter timeout. */
function timeoutOf(members: readonly Member[], option: AcquireOptions["timeout"]): number | null {
  if (option === null) return null;
  if (option !== undefined) {
    try {
      return parseDuration(option);
    } catch (error) {
      throw new InvalidArgumentError(`timeout: ${(error as Error).message}`);
    }
  }
  let timeout: number | null = null;
  for (const { config } of members) {
    if (config.timeoutMs !== null && (timeout === null || config.timeoutMs < timeout))
      timeout = config.timeoutMs;
  }
  return timeout;
}

/**
 * Refuses a `signal` option that is not an AbortSignal: `{}` or `true` would otherwise be taken for a signal
 * that never aborts, and the caller's cancellation would silently do nothing. A signal of another realm or a
 * polyfill passes when it has the AbortSignal shape (`aborted` and the listener methods).
 */
export function assertSignal(signal: unknown): asserts signal is AbortSignal | undefined {
  if (signal === undefined || signal instanceof AbortSignal) return;
  const candidate = signal as Partial<
    Record<"aborted" | "addEventListener" | "removeEventListener", unknown>
  >;
  if (
    signal !== null &&
    typeof signal === "object" &&
    typeof candidate.aborted === "boolean" &&
    typeof candidate.addEventListener === "function" &&
    typeof candidate.removeEventListener === "function"
  ) {
    return;
  }
  throw new InvalidArgumentError(`signal must be an AbortSignal, got ${describeValue(signal)}`);
}

function entryOf(members: readonly Member[], limiterId: string): LimiterEntry {
  return (members.find((m) => m.resolved.entry.id === limiterId) ?? members[0]!).resolved.entry;
}

/**
 * What a caller of {@link Acquirer.acquire} makes of the decision behind a lease before it is handed out (the
 * facade attaches `settle` with it).
 */
export type DecisionFinisher = (decision: Decision, members: readonly Member[]) => Decision;

/**
 * One `acquire()` call, carried through its tries: which limiter it waits for, for the `waiting` gauge and the
 * `wait` event (set when the call starts waiting, never for a call admitted at once), and what finishes its
 * lease's decision.
 */
interface WaitMark {
  entry: LimiterEntry | undefined;
  readonly finish: DecisionFinisher | undefined;
}

/** Counts the call as waiting on `entry`, once. */
function beginWait(mark: WaitMark, entry: LimiterEntry): void {
  if (mark.entry !== undefined) return;
  mark.entry = entry;
  entry.counters.waiting++;
}

/** Waits for and hands out leases, for one RateSync instance. */
export class Acquirer {
  readonly #engine: Engine;
  readonly #waiters = new WaitQueues();
  /** The instance's clock, in milliseconds: deadlines, retry times and waits are measured on it. */
  readonly #now: () => number;

  constructor(engine: Engine, now: () => number) {
    this.#engine = engine;
    this.#now = now;
  }

  /**
   * A lease for an outcome `tryAcquire` allowed (no wait), over `decision` (the outcome's, or what the caller
   * made of it); its release wakes waiters on the same keys.
   */
  leaseFor(outcome: EngineOutcome, members: readonly Member[], decision = outcome.decision): LeaseHandle {
    const queueKey = this.#queueKey(members);
    return new LeaseHandle(
      decision,
      0,
      outcome.leaseParts,
      () => this.#waiters.wake(queueKey),
      this.#holders(outcome, members),
    );
  }

  /**
   * Waits until `members` are allowed, within the timeout; see `RateSync.acquire`. `finish`, when given, makes
   * the lease's decision from the engine's.
   */
  async acquire(
    members: readonly Member[],
    options: AcquireOptions,
    started: number,
    finish?: DecisionFinisher,
  ): Promise<LeaseHandle> {
    const mark: WaitMark = { entry: undefined, finish };
    try {
      const lease = await this.#acquire(members, options, started, mark);
      if (mark.entry !== undefined) this.#endWait(mark.entry, members, lease.waitedMs, "acquired");
      return lease;
    } catch (error) {
      if (mark.entry !== undefined) {
        const aborted = options.signal?.aborted === true && !isRateLimitExceededError(error);
        this.#endWait(mark.entry, members, this.#now() - started, aborted ? "canceled" : "denied");
      }
      throw error;
    }
  }

  /** The call that waited on `entry` is done: it leaves the gauge, and the `wait` event tells how it ended. */
  #endWait(
    entry: LimiterEntry,
    members: readonly Member[],
    waitedMs: number,
    result: "acquired" | "denied" | "canceled",
  ): void {
    entry.counters.waiting--;
    const events = this.#engine.events;
    if (!events.hasListeners("wait")) return;
    const key = members.map((m) => m.resolved.key).join(",");
    events.emit("wait", { limiter: entry.id, key, waitedMs, result });
  }

  /** Who holds the concurrency slots of an allowed outcome: its members with `max_concurrent`. */
  #holders(outcome: EngineOutcome, members: readonly Member[]): SlotHolders | undefined {
    if (outcome.leaseParts.length === 0) return undefined;
    const slots: { entry: LimiterEntry; key: string }[] = [];
    for (const m of members) {
      if (m.config.concurrency !== undefined) slots.push({ entry: m.resolved.entry, key: m.resolved.key });
    }
    return { slots, events: this.#engine.events, now: this.#now, since: this.#now() };
  }

  async #acquire(
    members: readonly Member[],
    options: AcquireOptions,
    started: number,
    mark: WaitMark,
  ): Promise<LeaseHandle> {
    const now = this.#now;
    const timeoutMs = timeoutOf(members, options.timeout);
    const deadline = timeoutMs === null ? Number.POSITIVE_INFINITY : started + timeoutMs;
    const { signal } = options;
    assertSignal(signal);
    if (signal?.aborted) throw abortReason(signal);
    const queueKey = this.#queueKey(members);

    // When the last hint says to try again (a time on the instance's clock); undefined: try at once.
    let retryAt: number | undefined;
    if (!this.#waiters.has(queueKey)) {
      // Nobody is waiting on this key here: ask at once (the common case costs no queueing).
      const first = await this.#attempt(members, queueKey, deadline, started, signal, false, mark);
      if (first instanceof LeaseHandle) return first;
      retryAt = now() + first;
    }
    // From here on the call waits: behind other waiters, or until its retry hint.
    beginWait(mark, members[0]!.resolved.entry);
    const waiter = await this.#waiters.enter(
      queueKey,
      signal,
      members.map((m) => m.resolved.entry.id),
    );
    try {
      for (;;) {
        // The hint counts from when it was given: time spent queued behind other waiters is already waited,
        // so a waiter that reaches the head after its hint has passed tries at once.
        const untilRetry = retryAt === undefined ? 0 : retryAt - now();
        if (untilRetry > 0) {
          const untilDeadline = Math.max(0, deadline - now());
          await waiter.sleeper.sleep(Math.min(jitter(untilRetry), untilDeadline), signal);
        }
        // Reaching here means this call waited: behind other waiters, or for its retry hint.
        const attempt = await this.#attempt(members, queueKey, deadline, started, signal, true, mark);
        if (attempt instanceof LeaseHandle) return attempt;
        retryAt = now() + attempt;
      }
    } finally {
      this.#waiters.leave(queueKey, waiter);
    }
  }

  /** Wakes the waiters on keys of `limiterId`, whose state was just cleared: they try again now. */
  wakeLimiter(limiterId: string): void {
    this.#waiters.wakeLimiter(limiterId);
  }

  /** Waiters queue per key (per key set for a composite); a release wakes that queue's head. */
  #queueKey(members: readonly Member[]): string {
    return members.length === 1 ? members[0]!.resolved.key : members.map((m) => m.resolved.key).join("\0");
  }

  /**
   * One try: a lease when allowed (after sleeping through a reservation), else the retry hint. Rejects at once
   * when the hint passes the deadline.
   */
  async #attempt(
    members: readonly Member[],
    queueKey: string,
    deadline: number,
    started: number,
    signal: AbortSignal | undefined,
    waitedBefore: boolean,
    mark: WaitMark,
  ): Promise<LeaseHandle | number> {
    const budget = deadline - this.#now();
    const maxWait = budget <= 0 ? 0 : Math.min(budget, UNBOUNDED_WAIT_MS);
    // Provisional: a denied try is not a denied call, since the call may wait and try again. It is counted
    // below only when the call gives up.
    const outcome = await this.#engine.decide(members, maxWait, { provisional: true });
    if (outcome.allowed) return this.#grant(outcome, members, queueKey, started, signal, waitedBefore, mark);
    if (outcome.deniedByList) {
      // Final, and already counted (as denied by list, not as a timeout): no wait can help.
      const { decision } = outcome;
      throw new RateLimitExceededError(decision.key, decision.limiter, decision.retryAfterMs, decision);
    }
    if (outcome.storeError) {
      this.#engine.countDenied(members, outcome.decision);
      // It carries the denial (`error.decision`).
      throw outcome.storeError;
    }
    const { decision } = outcome;
    const remainingMs = deadline - this.#now();
    // A concurrency slot's hint is the earliest lease expiry, but a release usually comes sooner: such waits go
    // on until the deadline itself. Every other hint is exact, so a wait past the deadline is refused at once.
    const hopeless = outcome.retryIsHint
      ? remainingMs <= 0 || !Number.isFinite(decision.retryAfterMs)
      : decision.retryAfterMs > remainingMs || !Number.isFinite(decision.retryAfterMs);
    if (hopeless) {
      entryOf(members, decision.limiter).counters.timeouts++;
      this.#engine.countDenied(members, decision);
      throw new RateLimitExceededError(decision.key, decision.limiter, decision.retryAfterMs, decision);
    }
    return outcome.retryIsHint
      ? Math.min(decision.retryAfterMs, CONCURRENCY_RETRY_MS)
      : decision.retryAfterMs;
  }

  /** Turns an allowed outcome into a lease, sleeping through a reservation first. */
  async #grant(
    outcome: EngineOutcome,
    members: readonly Member[],
    queueKey: string,
    started: number,
    signal: AbortSignal | undefined,
    waitedBefore: boolean,
    mark: WaitMark,
  ): Promise<LeaseHandle> {
    if (outcome.waitMs > 0) {
      beginWait(mark, entryOf(members, outcome.decision.limiter));
      try {
        await sleep(outcome.waitMs, signal);
      } catch (error) {
        // Aborted while holding a reservation: give the slot back so nobody else waits for it.
        await Promise.all(outcome.grants.map((grant) => this.#engine.refund(grant)));
        throw error;
      }
    }
    const waitedMs = this.#now() - started;
    // Only calls that actually waited count as waits (a store round trip is not a wait).
    if (waitedBefore || outcome.waitMs > 0)
      recordWait(entryOf(members, outcome.decision.limiter).counters, waitedMs);
    return new LeaseHandle(
      mark.finish === undefined ? outcome.decision : mark.finish(outcome.decision, members),
      waitedMs,
      outcome.leaseParts,
      () => this.#waiters.wake(queueKey),
      this.#holders(outcome, members),
    );
  }
}
