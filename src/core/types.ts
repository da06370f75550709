/**
 * @module
 * Public types of the core API: decisions, leases, options and events.
 */

import type { LimiterDefinition, PolicyDescriptor } from "../config/types.ts";
import type { ConfigError, UnknownLimiterError } from "../errors.ts";
import type { ListVerdict } from "../lists/key-lists.ts";
import type { OverrideEvent } from "../overrides/types.ts";
import type { StoreClient } from "../stores/clients.ts";
import type { Store } from "../stores/store.ts";
import type { TopKeysOptions } from "../top-keys/top-keys.ts";
import type { NoticeOptions } from "./notices.ts";

/** A duration: a string with a unit (`"250ms"`, `"2s"`, `"5m"`) or a number of seconds (as in the TOML file). */
export type DurationInput = string | number;

/** Why a decision did not come from a healthy store. */
export type Degraded = "store-error" | "shadow" | "local";

/** The answer to one `tryAcquire` (or the decision behind an `acquire`). */
export interface Decision {
  /** Whether the call may go ahead. */
  readonly allowed: boolean;
  /** The key that was asked for (for a composite: the most constraining member's key). */
  readonly key: string;
  /** The id of the limiter or template that decided. */
  readonly limiter: string;
  /** Capacity of the limit that applied (`burst`, `limit` or `max_concurrent`). */
  readonly limit: number;
  /** Units left after this decision. */
  readonly remaining: number;
  /** Milliseconds until the full capacity is back. */
  readonly resetAfterMs: number;
  /** When denied, milliseconds until a retry could succeed (`Infinity`: never, the cost is above capacity); else 0. */
  readonly retryAfterMs: number;
  /** The draft-10 policy descriptor (`RateLimit-Policy`). */
  readonly policy: PolicyDescriptor;
  /** Set when the answer did not come from a healthy store. */
  readonly degraded?: Degraded;
  /**
   * Set when `[lists]` decided and no store was asked: `"allow"` (admitted, nothing consumed, `remaining` =
   * `limit`) or `"deny"` (refused, `remaining` 0, `retryAfterMs` = `Infinity`). For a composite: set when a
   * member's key is on the deny list (the whole call is refused).
   */
  readonly list?: ListVerdict;
  /**
   * Set when the call was denied by a block (`block`, `block_escalation`): one this call ran into, or one its
   * denial started. `retryAfterMs` (and `resetAfterMs`) then cover the time left in the block, `remaining` is 0.
   * For a composite: set when the deciding member was blocked.
   */
  readonly blocked?: true;
  /** For a composite: one decision per member, in the order asked. */
  readonly results?: readonly Decision[];
  /**
   * For a limiter with several limits (`limits = [...]`): where each one stands, in the order written. The
   * decision's own fields are its most constraining limit's (the first that denied, else the one with the least
   * left).
   */
  readonly limits?: readonly LimitReport[];
  /**
   * Set when the decision took a concurrency slot (`max_concurrent`): release it when the work is done. A slot
   * never released is freed after the limiter's `lease` time.
   */
  readonly lease?: Lease;
  /**
   * Settles an admitted call whose cost was an estimate, once its work is done and the actual cost known: when
   * it used less than the `cost` acquired, the difference is given back (`rs.refund`); when more, the excess is
   * charged (`rs.charge`: beyond the limit, into debt). On every limit and every member the call consumed from,
   * atomically per member. Resolves once applied; rejects with the store's `StoreError`, or with
   * `InvalidArgumentError` for an actual cost that is not a finite number ≥ 0 or a second settle.
   *
   * Present on an allowed decision of a call that passed `cost` (`tryAcquire`, `tryAcquireSync`, and the
   * `decision` of `acquire`'s lease), when its units were consumed on the stores: absent when `[lists]` admitted
   * it or it is `degraded` (nothing there to settle against).
   */
  readonly settle?: (actualCost: number) => Promise<void>;
}

/** Where one limit of a multi-limit limiter stands after a decision or a peek (see {@link Decision.limits}). */
export interface LimitReport {
  /** Whether this limit would let the call go ahead (a denied call consumes nothing in any limit). */
  readonly allowed: boolean;
  /** Its capacity (`burst` or `limit`). */
  readonly limit: number;
  /** Units left in it. */
  readonly remaining: number;
  /** Milliseconds until its full capacity is back. */
  readonly resetAfterMs: number;
  /** When it denies, milliseconds until it could allow; else 0. */
  readonly retryAfterMs: number;
  /** Its policy: named `<limiter id>/<name>`. */
  readonly policy: PolicyDescriptor;
}

/** What `acquire()` returns: proof the call may proceed, and the slot to give back. */
export interface Lease {
  /** The decision that admitted the call. */
  readonly decision: Decision;
  /** How long `acquire()` waited, in milliseconds. */
  readonly waitedMs: number;
  /** Gives back the concurrency slot (if the limiter has one). Idempotent; never rejects for an already released lease. */
  release(): Promise<void>;
  /**
   * Extends the concurrency slot by the limiter's `lease` time. Rejects with `LeaseExpiredError` when the slot is
   * already gone. A no-op for limiters without `max_concurrent`.
   */
  renew(): Promise<void>;
  /** Releases the lease at the end of an `await using` scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** The state of a key, as reported by `peek` (consumes nothing). */
export interface LimiterState {
  readonly key: string;
  readonly limiter: string;
  readonly limit: number;
  readonly remaining: number;
  readonly resetAfterMs: number;
  readonly policy: PolicyDescriptor;
  /** For limiters with `max_concurrent`: slots held now and the maximum. */
  readonly concurrency?: { readonly held: number; readonly max: number };
  /**
   * For a limiter with several limits: each one's state, in the order written (the fields above are the most
   * constraining one's: the one with the least left).
   */
  readonly limits?: readonly LimitReport[];
  /** Set when the key is on an allow or deny list of `[lists]` (the store was not read). */
  readonly list?: ListVerdict;
  /**
   * Set while the key is blocked (`block`, `block_escalation`): milliseconds left in the block, the
   * `retryAfterMs` a call would get now. `remaining` is then 0.
   */
  readonly blockedForMs?: number;
}

/** Options of `tryAcquire`. */
export interface TryAcquireOptions {
  /**
   * Units to consume: a positive integer, or for token buckets any number from 0.000001. A cost above the
   * limiter's capacity, however large, is denied with `retryAfterMs = Infinity`.
   * @default 1
   */
  readonly cost?: number;
  /**
   * The client's IP address (`"203.0.113.7"`, `"2001:db8::1"`), matched against the CIDR ranges of `[lists]`.
   * The HTTP adapters pass the address they determined (`trustProxy`); key globs never see it.
   */
  readonly ip?: string;
}

/** Options of `acquire` and `run`. */
export interface AcquireOptions extends TryAcquireOptions {
  /**
   * How long to wait at most: a duration (`"2s"`, `"250ms"`) or seconds as a number; `0` decides at once.
   * @default the limiter's `timeout`, else wait until allowed
   */
  readonly timeout?: DurationInput | null;
  /** Aborts the wait; the call rejects with the signal's reason. Anything but an AbortSignal is refused. */
  readonly signal?: AbortSignal;
}

/** A `{ get, subscribe }` source of a limiter's parameters, such as a feature-flag service. */
export interface ConfigProvider {
  /** The current definition (the `[limiters.<id>]` shape). */
  get(): LimiterDefinition;
  /** Calls `listener` after every change; returns a function that unsubscribes. */
  subscribe(listener: (definition: LimiterDefinition) => void): () => void;
}

/** What changed in a reload, by limiter id. */
export interface ReloadEvent {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
}

/** A store call failed; the limiter's `on_store_error` decided instead. */
export interface StoreErrorEvent {
  readonly store: string;
  readonly limiter: string;
  readonly error: Error;
}

/** A call named a key that no limiter or template matches (the call rejects with the error). */
export interface UnknownLimiterEvent {
  /** The key asked for. */
  readonly key: string;
  readonly error: UnknownLimiterError;
}

/**
 * A valid reload was applied but did something that is probably a mistake. `removed-in-use`: it removed
 * limiters (or templates) that took calls within about the last minute, so those calls now fail with
 * `UnknownLimiterError` (an HTTP adapter answers 500) — a renamed template, typically.
 */
export interface ReloadWarningEvent {
  readonly kind: "removed-in-use";
  /** Ids of the removed limiters that were in use. */
  readonly limiters: readonly string[];
  /** One line saying what happened and what to do. */
  readonly message: string;
}

/** How an `acquire()` call that waited ended. */
export type WaitResult = "acquired" | "denied" | "canceled";

/**
 * An `acquire()` call that had to wait has ended: admitted, refused (its wait would pass the timeout, or the
 * store failed under `on_store_error = "deny"`), or canceled by its signal. Calls admitted at once give none.
 */
export interface WaitEvent {
  /** The id of the limiter or template the call waited for. */
  readonly limiter: string;
  /** The key asked for (a composite: its keys joined with `,`). */
  readonly key: string;
  /** How long the call waited, in milliseconds. */
  readonly waitedMs: number;
  readonly result: WaitResult;
}

/** A lease that held a concurrency slot (`max_concurrent`) was released, one event per limiter with a slot. */
export interface LeaseReleasedEvent {
  /** The id of the limiter or template whose slot it held. */
  readonly limiter: string;
  /** The key the slot was held for. */
  readonly key: string;
  /** How long the slot was held, in milliseconds. */
  readonly heldMs: number;
}

/** Events of a RateSync instance and their payloads. */
export interface RateSyncEvents {
  /** A reload (file change, `reload()`) applied a new config. */
  reload: ReloadEvent;
  /** A reload found the new config invalid; the running one stays. */
  reloadError: ConfigError;
  /** A store call failed. */
  storeError: StoreErrorEvent;
  /** Every decision, when somebody listens (opt-in: nothing is computed otherwise). */
  decision: Decision;
  /** A call's key matched no limiter (the call rejects with `UnknownLimiterError`; HTTP adapters answer 500). */
  unknownLimiter: UnknownLimiterEvent;
  /** A reload was applied, but it removed limiters still in use. */
  reloadWarning: ReloadWarningEvent;
  /**
   * A runtime override was applied, changed, removed or expired in this process (whichever process wrote it).
   * An override refused by this process's config is reported as `reloadError` instead.
   */
  override: OverrideEvent;
  /** An `acquire()` call that waited has ended (opt-in: nothing is computed when nobody listens). */
  wait: WaitEvent;
  /** A concurrency slot was given back (opt-in: nothing is computed when nobody listens). */
  leaseReleased: LeaseReleasedEvent;
  /**
   * A key's block started: a call was denied by the limiter's rate limit(s) and the limiter has `block` or
   * `block_escalation`. Once per block, from the process whose call started it (calls that run into a running
   * block emit only `decision`).
   */
  blocked: BlockedEvent;
}

/** Payload of the `blocked` event. */
export interface BlockedEvent {
  /** The limiter or template id. */
  readonly limiter: string;
  /** The key that is blocked (as asked, even under `hash_keys`). */
  readonly key: string;
  /** How long the block lasts, in ms. */
  readonly durationMs: number;
  /** How many blocks in a row this one is (1 for the first; with `block_escalation`, the step it took). */
  readonly count: number;
}

/** Names of {@link RateSyncEvents}. */
export type RateSyncEventName = keyof RateSyncEvents;

/**
 * Options of `RateSync` constructors. `logger` and `quiet` concern the one-line notices written when an event
 * that reports a failure (`reloadError`, `storeError`, `reloadWarning`, `unknownLimiter`) has no listener:
 * at most one line per distinct problem per minute, to stderr unless a `logger` is given.
 */
export interface RateSyncOptions extends NoticeOptions {
  /**
   * Store instances to use instead of (or beside) the configured ones, by id: how a custom `Store`
   * implementation gets in, and how tests inject a store with a fake clock.
   */
  readonly stores?: Readonly<Record<string, Store>>;
  /**
   * Connections the application already has, by name, for stores whose config says `client = "<name>"`: an
   * ioredis `Redis` or `Cluster` for a redis store, a postgres.js `sql` for a postgres store. The store keeps
   * its other settings (`key_prefix`, `timeout`, `table_name`, …) and shares the client's pool and its TLS,
   * Sentinel or Cluster settings. The application owns them: `close()` leaves them open, and the store never
   * adds listeners to them or changes how their sockets hold the process.
   *
   * @example
   * ```ts
   * const redis = new Redis(process.env.REDIS_URL);
   * const rs = RateSync.fromToml(`[stores.main]
engine = "redis"
client = "app"
…`, { clients: { app: redis } });
   * ```
   */
  readonly clients?: Readonly<Record<string, StoreClient>>;
  /** Environment for `${VAR}` interpolation. @default process.env */
  readonly env?: Record<string, string | undefined>;
  /**
   * Tracking of the keys denied most (`rs.topKeys()`): sketch size and decayed window, or `false` to turn it off.
   * Only denials are recorded. @default { counters: 32, minutes: 5, maxLimiters: 256 }
   */
  readonly topKeys?: TopKeysOptions | false;
  /**
   * The clock of this instance, in epoch milliseconds: of its memory stores (configured ones and the
   * `on_store_error = "local"` stand-ins) and of `acquire()`'s deadlines and retry times. Remote stores keep
   * their server's clock. For tests: `{ now: () => Date.now() }` under fake timers that fake `Date` but not
   * `performance` (node:test's `mock.timers`), or a manual clock with `tryAcquire` (`acquire()` still sleeps
   * with `setTimeout`). Under vitest's or Jest's `useFakeTimers()` the default already follows the fake time.
   * @default `performance.timeOrigin + performance.now()` (monotonic, epoch-aligned)
   */
  readonly clock?: Clock;
}

/** A source of time in epoch milliseconds (see {@link RateSyncOptions.clock}). */
export interface Clock {
  now(): number;
}

/** Options of `RateSync.fromFile`. */
export interface FromFileOptions extends RateSyncOptions {
  /** Watch the file and its directory and hot-reload on change. @default false */
  readonly watch?: boolean;
  /** Debounce of file events before a reload, in milliseconds. @default 50 */
  readonly debounceMs?: number;
}
