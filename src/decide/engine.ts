/**
 * @module
 * The decision engine: turns the members of a call (one key, or several for a composite) into store
 * operations, runs them, and applies the failure policy (`on_store_error`), shadow mode and refunds.
 *
 * Atomicity: members on one store are decided in one `Store.decide` call (all-or-nothing, one round trip).
 * Members on different stores are decided in parallel and, when any denies, the ones that passed are
 * refunded. Shadow members are decided on their own so a dry-run limiter can never block the others.
 */

import { capacityOf } from "../algorithms/shared.ts";
import type { LimitParams } from "../algorithms/types.ts";
import type { LimiterConfig, PolicyDescriptor } from "../config/types.ts";
import type { TypedEmitter } from "../core/events.ts";
import type { Decision, Degraded, LimitReport, RateSyncEvents } from "../core/types.ts";
import { StoreError, StoreUnavailableError, SyncUnavailableError } from "../errors.ts";
import type { ResolvedKey } from "../limiters/registry.ts";
import type { ListVerdict } from "../lists/key-lists.ts";
import type { HeldLeases } from "../stores/memory/memory-store.ts";
import type { BatchResult, OpResult, Store, StoreOp } from "../stores/store.ts";
import type { TopKeys } from "../top-keys/top-keys.ts";

/** A shared empty list, for outcomes with no grants or leases (nothing may push to it: it is frozen). */
const NONE: readonly never[] = Object.freeze([]);

/** Retry hint of a call denied because its store failed under `on_store_error = "deny"`. */
export const STORE_ERROR_RETRY_MS = 1000;

/** One key of a call, bound to the config it is decided with (one whole config per call, even mid-reload). */
export interface Member {
  readonly resolved: ResolvedKey;
  readonly config: LimiterConfig;
  readonly cost: number;
  /** What `[lists]` says about the key (or the call's address); absent when no list matched. */
  readonly list?: ListVerdict;
}

/** A concurrency slot granted by a decision, to release or renew later. */
export interface LeasePart {
  readonly store: Store;
  readonly limiterId: string;
  readonly storeKey: string;
  readonly leaseId: string;
  readonly leaseMs: number;
}

/** Operations a store applied, kept so they can be refunded (abort during a reserved wait, composite denial). */
export interface Grant {
  readonly store: Store;
  readonly ops: readonly StoreOp[];
}

/** What the engine concluded for a call. */
export interface EngineOutcome {
  readonly allowed: boolean;
  /** For an allowed call with a reservation: how long the caller must wait before going ahead. */
  readonly waitMs: number;
  /** The decision to hand to the caller (without a lease: the caller attaches one). */
  readonly decision: Decision;
  /** What was applied (empty when denied: denied calls consume nothing). */
  readonly grants: readonly Grant[];
  /** Concurrency slots taken (empty when denied). */
  readonly leaseParts: readonly LeasePart[];
  /** The store failure behind a denial under `on_store_error = "deny"`, carrying {@link decision}. */
  readonly storeError?: StoreError;
  /**
   * True when the denial came from a concurrency limit: its `retryAfterMs` is only the latest a slot frees by expiry
   * (a lease expiring), while a release may come any moment.
   */
  readonly retryIsHint: boolean;
  /** True when the deny list refused the call: final, no store was asked, waiting never helps. */
  readonly deniedByList?: true;
}

/** How {@link Engine.decide} decides a call. */
export interface DecideOptions {
  /**
   * The call is one try of a waiting `acquire()`: a denial here may be followed by another try, so it is not
   * counted as a denied call (the caller counts it with {@link Engine.countDenied} once it gives up).
   * @default false
   */
  readonly provisional?: boolean;
}

/** Where the engine gets stores from. */
export interface StoreProvider {
  /** The store with this id (created on first use). */
  store(id: string): Store;
  /** The in-process stand-in used under `on_store_error = "local"` while store `id` fails. */
  fallback(id: string): Store;
  /**
   * Live leases of a key granted by the stand-in of store `id` and still held (`undefined`: none, or no
   * stand-in). Optional: without it, locally granted slots are not counted once the store is back.
   */
  heldLocally?(id: string, limiterId: string, key: string): HeldLeases | undefined;
  /**
   * Optional: records a lease store `id` granted, for the stand-in to count during an outage; returns the part
   * that ends the record with the lease. With {@link heldFromStore}.
   */
  recordStoreLease?(id: string, limiterId: string, key: string, leaseId: string, leaseMs: number): LeasePart;
  /** Live leases of a key that store `id` granted and that are still held (recorded by `recordStoreLease`). */
  heldFromStore?(id: string, limiterId: string, key: string): HeldLeases | undefined;
}

/**
 * The members of a call that are decided in one store call (those on one store; a shadow member alone), and,
 * once decided, the answer: the only per-call state, there is no separate outcome per group. A plain object
 * (made by {@link newGroup}), as cheap to allocate as any: every call makes one.
 */
interface Group {
  readonly storeId: string;
  /** A shadow member: its denial never denies the call, and it never waits (SPEC §6). */
  readonly shadow: boolean;
  /** The call's members in this group, by index. */
  readonly members: number[];
  /** The ops of every member, in member order. */
  readonly ops: StoreOp[];
  /** For each op, the index of its member; undefined while the group has one member. */
  opMember: number[] | undefined;
  /** The answer, set once decided: the store's, or under `on_store_error` its stand-in's or policy's. */
  batch: BatchResult | undefined;
  /** The store that applied the ops, when one did (what a denied call gives back). */
  appliedOn: Store | undefined;
  degraded: Degraded | undefined;
  /** The store failure behind a denial under `on_store_error = "deny"`. */
  failure: Error | undefined;
}

/** A group of member `m`, whose ops (a fresh array: the group owns it) are `ops`. */
function newGroup(storeId: string, shadow: boolean, m: number, ops: StoreOp[]): Group {
  return {
    storeId,
    shadow,
    members: [m],
    ops,
    opMember: undefined,
    batch: undefined,
    appliedOn: undefined,
    degraded: undefined,
    failure: undefined,
  };
}

/** Adds member `m` and its ops to a group. */
function addMember(group: Group, m: number, ops: readonly StoreOp[]): void {
  const first = group.members[0]!;
  group.opMember ??= group.ops.map(() => first);
  group.members.push(m);
  for (const op of ops) {
    group.ops.push(op);
    group.opMember.push(m);
  }
}

/** The index of the member of a group's op `i`. */
function memberOf(group: Group, i: number): number {
  return group.opMember === undefined ? group.members[0]! : group.opMember[i]!;
}

/** The answer's results of member `m`, in op order (its rate limit, then its concurrency limit). */
function resultsOf(group: Group, m: number): readonly OpResult[] {
  const results = group.batch!.results;
  const opMember = group.opMember;
  return opMember === undefined ? results : results.filter((_, i) => opMember[i] === m);
}

/** The ops of member `m` in a group. */
function opsOf(group: Group, m: number): readonly StoreOp[] {
  const opMember = group.opMember;
  return opMember === undefined ? group.ops : group.ops.filter((_, i) => opMember[i] === m);
}

/** The group of member `m`. */
function groupOf(groups: readonly Group[], m: number): Group {
  return groups.find((group) => group.members.includes(m))!;
}

/** True when a member of the call is on a list (one check per member: a call without lists pays only this). */
function listed(members: readonly Member[]): boolean {
  if (members.length === 1) return members[0]!.list !== undefined;
  for (const m of members) if (m.list !== undefined) return true;
  return false;
}

/**
 * The decision of a member decided by a list, without a store: `allow` admits with the whole capacity left
 * (nothing was consumed), `deny` refuses for good (`retryAfterMs = Infinity`). `undefined`: a member of a call
 * the deny list refused that was not asked (reported as admitted with nothing consumed: it was not the cause).
 */
function listDecision(member: Member, list: ListVerdict | undefined): Decision {
  const { config, resolved } = member;
  const limit = config.policy.quota;
  const base = {
    key: resolved.key,
    limiter: resolved.entry.id,
    limit,
    resetAfterMs: 0,
    policy: config.policy,
  };
  if (list === "deny") return { ...base, allowed: false, remaining: 0, retryAfterMs: Infinity, list };
  return {
    ...base,
    allowed: true,
    remaining: limit,
    retryAfterMs: 0,
    ...(list === undefined ? {} : { list }),
  };
}

function storeErrorResult(params: LimitParams, allowed: boolean): OpResult {
  const limit = params.kind === "concurrency" ? params.maxConcurrent : capacityOf(params);
  return {
    allowed,
    limit,
    remaining: allowed ? limit : 0,
    resetAfterMs: 0,
    retryAfterMs: allowed ? 0 : STORE_ERROR_RETRY_MS,
    waitMs: 0,
  };
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * The `StoreError` a call denied under `on_store_error = "deny"` rejects with, carrying the denial. Always a
 * new error (a store may hand the same error to several calls, so it is never changed); a store's own
 * `StoreError` keeps its message and its cause.
 */
function denialError(storeId: string, error: Error, decision: Decision): StoreError {
  if (!(error instanceof StoreError))
    return new StoreError(storeId, error.message, { cause: error, decision });
  // The constructor writes `Store "<id>": ` before the reason: taken off, the message comes out the same.
  const prefix = `Store "${error.store}": `;
  const reason = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
  return new StoreError(error.store, reason, { cause: error.cause, decision });
}

/**
 * Where one limit of a multi-limit member stands. A limit that passed in a refused call was not applied: it
 * reports what it still has (as {@link Engine} does for a whole member).
 */
function limitReport(
  result: OpResult,
  policy: PolicyDescriptor,
  cost: number,
  callAllowed: boolean,
): LimitReport {
  const unapplied = !callAllowed && result.allowed && result.waitMs === 0;
  return {
    allowed: result.allowed,
    limit: result.limit,
    remaining: unapplied ? Math.min(result.limit, Math.floor(result.remaining + cost)) : result.remaining,
    resetAfterMs: result.resetAfterMs,
    retryAfterMs: result.allowed ? 0 : result.retryAfterMs,
    policy,
  };
}

/**
 * The order in which `decideSync` asks stores: `0` a remote store (it answers only denials its cache knows),
 * `1` a SQLite store (it answers every call, but can still fail at once on a missing driver package), `2` a
 * memory store (it never fails so). A call one of them cannot answer thus fails before a later one applies
 * anything.
 */
function syncRank(store: Store): number {
  if (store.engine === "memory") return 2;
  return store.engine === "sqlite" ? 1 : 0;
}

/** Decides calls for one RateSync instance. */
export class Engine {
  constructor(
    readonly stores: StoreProvider,
    readonly events: TypedEmitter<RateSyncEvents>,
    /** Where denials are recorded for `rs.topKeys()`; undefined: not tracked. */
    readonly topKeys?: TopKeys,
  ) {}

  /**
   * Decides a call. `maxWaitMs` is the reservation budget of token and leaky buckets (0 decides now).
   *
   * Synchronous when every store of the call answers without I/O (`Store.decideNow`: the memory store, a remote
   * store's over-limit cache) and nothing needs giving back, else a promise; failures always reject.
   * Kept for that: against an `async` decide (`bench/run.ts --quick --only=memory`, ÷ rate-limiter-flexible,
   * two runs in the same minutes) denied 2.12–2.46× vs 1.04–1.35×, hot key 0.38–0.54× vs 0.30–0.38×.
   */
  decide(
    members: readonly Member[],
    maxWaitMs: number,
    options?: DecideOptions,
  ): EngineOutcome | Promise<EngineOutcome> {
    if (listed(members)) return this.#decideListed(members, (rest) => this.decide(rest, maxWaitMs, options));
    const groups = this.#plan(members);
    if (groups.length === 1) {
      // One group: nothing else is applied, so nothing to give back if it rejects.
      const later = this.#run(groups[0]!, members, maxWaitMs);
      if (later === undefined) return this.#conclude(members, groups, options);
      return later.then(() => this.#conclude(members, groups, options));
    }
    let pending: Promise<void>[] | undefined;
    for (const group of groups) {
      const later = this.#run(group, members, maxWaitMs);
      if (later === undefined) continue;
      pending ??= [];
      pending.push(later);
    }
    if (pending === undefined) return this.#conclude(members, groups, options);
    return this.#settle(groups, pending).then(() => this.#conclude(members, groups, options));
  }

  /**
   * The fast lane of `tryAcquire` and `tryAcquireSync`: a call of one key whose limiter has only a rate limit
   * (no concurrency limit, one limit, not shadow, no block, the key on no list), decided now by a store that needs no I/O for it (`Store.decideOneNow`).
   * Returns its decision, exactly as {@link decide} with a reservation budget of 0 would, or `undefined`
   * having done nothing, when the call needs the general path (another shape, or a store that must go out).
   *
   * Kept because the general path's plan (groups, batches, outcome) is most of an in-process decision:
   * measured, memory hot key, CPU time, `tryAcquireSync` 2.1–2.2M/s through `decideSync`, 3.1–3.2M/s through
   * this lane.
   */
  tryDecideNow(member: Member): Decision | undefined {
    const { config } = member;
    const rate = config.rate;
    if (
      rate === undefined ||
      config.concurrency !== undefined ||
      config.limits !== undefined ||
      config.shadow ||
      config.block !== undefined ||
      member.list !== undefined
    )
      return undefined;
    const store = this.stores.store(config.store);
    if (store.decideOneNow === undefined) return undefined;
    let result: OpResult | undefined;
    try {
      result = store.decideOneNow(member.resolved.rateOp(config, rate, member.cost), 0);
    } catch {
      // `on_store_error` and its stand-in belong to the general path.
      return undefined;
    }
    if (result === undefined) return undefined;
    if (result.fromCache) member.resolved.entry.counters.localCacheHits++;
    return this.#decisionOf(member, result, config.policy, undefined, result.allowed, false);
  }

  /**
   * Decides a call now, without a promise, or throws {@link SyncUnavailableError} having consumed nothing: the
   * same plan, answers and conclusion as {@link decide} (reservation budget 0), with every store asked through
   * `Store.decideNow`. A remote store answers only the denials its over-limit cache knows, so its groups are
   * asked first: a call one of them cannot answer fails before a memory or SQLite store applies anything. A denied
   * composite's refunds are started, not awaited (an in-process store applies a refund before it returns).
   */
  decideSync(members: readonly Member[]): EngineOutcome {
    if (listed(members)) return this.#decideListed(members, (rest) => this.decideSync(rest)) as EngineOutcome;
    const groups = this.#plan(members);
    if (groups.length === 1) {
      // One group (the common call): no order to choose, no array of stores to build.
      this.#runNow(groups[0]!, members, this.stores.store(groups[0]!.storeId), groups);
    } else {
      // Every store first: one that cannot work at all (a missing driver package) throws before anything applies.
      const stores = groups.map((group) => this.stores.store(group.storeId));
      for (let rank = 0; rank <= 2; rank++) {
        for (let g = 0; g < groups.length; g++) {
          if (syncRank(stores[g]!) === rank) this.#runNow(groups[g]!, members, stores[g]!, groups);
        }
      }
    }
    return this.#conclude(members, groups, undefined, true) as EngineOutcome;
  }

  /**
   * Decides one group of {@link decideSync} through `Store.decideNow`, or throws {@link SyncUnavailableError}
   * when its store cannot answer, after giving back what the call's other groups took.
   */
  #runNow(group: Group, members: readonly Member[], store: Store, groups: readonly Group[]): void {
    let batch: BatchResult | undefined;
    try {
      batch = store.decideNow?.(group.ops, 0);
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      // As `decide` would: by `on_store_error` (the local stand-in is in-process, it answers at once).
      void this.#onStoreError(group, members, 0, toError(error));
      if (group.batch !== undefined) return;
    }
    if (batch === undefined) {
      // What other groups took (none today: a remote store answers only denials, and is asked first) goes back.
      for (const done of groups) {
        if (done.appliedOn !== undefined) void this.refund({ store: done.appliedOn, ops: done.ops });
      }
      throw new SyncUnavailableError(group.storeId, store.engine);
    }
    // A grant the slots held locally leave no room for is refunded in the background (remote stores only).
    void this.#accept(group, members, store, batch);
  }

  /** Sorts the members of a call into groups, one per store (shadow members on their own), in order. */
  #plan(members: readonly Member[]): Group[] {
    // The first member opens the first group; an array literal of one is sized exactly (a push into `[]` would
    // allocate room for 17).
    const first = members[0]!;
    const groups = [
      newGroup(first.config.store, first.config.shadow, 0, first.resolved.opsFor(first.config, first.cost)),
    ];
    for (let m = 1; m < members.length; m++) {
      const { resolved, config, cost } = members[m]!;
      const ops = resolved.opsFor(config, cost);
      let group: Group | undefined;
      if (!config.shadow) {
        for (const g of groups) if (!g.shadow && g.storeId === config.store) group = g;
      }
      if (group === undefined) groups.push(newGroup(config.store, config.shadow, m, ops));
      else addMember(group, m, ops);
    }
    return groups;
  }

  /**
   * Decides one group: at once when its store answers synchronously (undefined then), else a promise that
   * settles once the group has its answer. Rejects only when a store cannot work at all (its driver package
   * is missing): a setup error, not an outage, which `on_store_error` does not hide.
   */
  #run(group: Group, members: readonly Member[], maxWaitMs: number): Promise<void> | undefined {
    let store: Store;
    try {
      store = this.stores.store(group.storeId);
    } catch (error) {
      // A rejection, like any other of the group's: what other groups took is given back.
      return Promise.reject(error);
    }
    const budgetMs = group.shadow ? 0 : maxWaitMs;
    if (store.decideNow !== undefined) {
      let batch: BatchResult | undefined;
      try {
        batch = store.decideNow(group.ops, budgetMs);
      } catch {
        // Handled with `on_store_error` by the asynchronous call below.
      }
      if (batch !== undefined) return this.#accept(group, members, store, batch);
    }
    return this.#runLater(group, members, store, budgetMs);
  }

  async #runLater(group: Group, members: readonly Member[], store: Store, budgetMs: number): Promise<void> {
    let batch: BatchResult;
    try {
      batch = await store.decide(group.ops, budgetMs);
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      return this.#onStoreError(group, members, budgetMs, toError(error));
    }
    return this.#accept(group, members, store, batch);
  }

  /**
   * Takes a store's answer for a group: counts answers from a remote store's local cache, and turns a grant
   * that slots held locally leave no room for into a denial. Undefined, or when that grant has to be given
   * back, the promise of the refund.
   */
  #accept(
    group: Group,
    members: readonly Member[],
    store: Store,
    batch: BatchResult,
  ): Promise<void> | undefined {
    for (let i = 0; i < batch.results.length; i++) {
      if (batch.results[i]!.fromCache) members[memberOf(group, i)]!.resolved.entry.counters.localCacheHits++;
    }
    const overLocal = batch.allowed ? this.#overLocalSlots(group.storeId, group.ops, batch) : undefined;
    if (overLocal === undefined) {
      group.batch = batch;
      if (batch.allowed) group.appliedOn = store;
      return undefined;
    }
    group.batch = overLocal;
    return store.refund(group.ops).catch(() => {});
  }

  /**
   * Waits for the groups still deciding. When one rejects, what the others applied is given back first (the
   * call consumes nothing), then the call rejects with it.
   */
  async #settle(groups: readonly Group[], pending: readonly Promise<void>[]): Promise<void> {
    const settled = await Promise.allSettled(pending);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed === undefined) return;
    await Promise.all(
      groups.map((group) =>
        group.appliedOn === undefined ? undefined : this.refund({ store: group.appliedOn, ops: group.ops }),
      ),
    );
    throw failed.reason;
  }

  /**
   * The call's outcome from the answers of its groups: all-of (a shadow member never denies), the decisions,
   * the leases taken, and, when denied, what the members that passed took given back (a promise then).
   */
  #conclude(
    members: readonly Member[],
    groups: readonly Group[],
    options: DecideOptions | undefined,
    sync = false,
  ): EngineOutcome | Promise<EngineOutcome> {
    let allowed = true;
    let waitMs = 0;
    let failed: Group | undefined;
    let grants: Grant[] | undefined;
    for (const group of groups) {
      const batch = group.batch!;
      if (batch.allowed) {
        for (const result of batch.results) if (result.waitMs > waitMs) waitMs = result.waitMs;
      } else if (!group.shadow) allowed = false;
      if (group.failure !== undefined) failed ??= group;
      if (group.appliedOn === undefined) continue;
      const grant = { store: group.appliedOn, ops: group.ops };
      // A literal of one, sized exactly (a push into `[]` would allocate room for 17).
      if (grants === undefined) grants = [grant];
      else grants.push(grant);
    }

    const provisional = options?.provisional === true;
    let decision: Decision;
    /** The member whose decision is the call's, and its group (a denial's retry hint is theirs). */
    let deciding = 0;
    let decidingGroup = groups[0]!;
    if (members.length === 1) {
      decision = this.#memberDecision(
        members[0]!,
        resultsOf(decidingGroup, 0),
        decidingGroup.degraded,
        allowed,
        provisional,
      );
    } else {
      const decisions = members.map((member, m) => {
        const group = groupOf(groups, m);
        return this.#memberDecision(member, resultsOf(group, m), group.degraded, allowed, provisional);
      });
      decision = this.#composite(decisions, allowed);
      deciding = decisions.findIndex((d) => d.key === decision.key && d.limiter === decision.limiter);
      decidingGroup = groupOf(groups, deciding);
    }

    if (!allowed) {
      // A concurrency denial's `retryAfterMs` is only the latest a slot frees by expiry: a hint.
      const results = resultsOf(decidingGroup, deciding);
      let denied = 0;
      while (denied < results.length && results[denied]!.allowed) denied++;
      const retryIsHint = opsOf(decidingGroup, deciding)[denied]?.params.kind === "concurrency";
      // Two literals rather than a spread: a denial is a hot path too (a limit under attack).
      const outcome: EngineOutcome =
        failed === undefined
          ? { allowed, waitMs: 0, decision, grants: NONE, leaseParts: NONE, retryIsHint }
          : {
              allowed,
              waitMs: 0,
              decision,
              grants: NONE,
              leaseParts: NONE,
              retryIsHint,
              storeError: denialError(failed.storeId, failed.failure!, decision),
            };
      // Denied calls consume nothing: give back what the members that passed took.
      if (grants === undefined) return outcome;
      if (sync) {
        for (const grant of grants) void this.refund(grant);
        return outcome;
      }
      return Promise.all(grants.map((grant) => this.refund(grant))).then(() => outcome);
    }

    let leaseParts: LeasePart[] | undefined;
    for (const group of groups) {
      if (group.appliedOn === undefined) continue;
      for (let i = 0; i < group.ops.length; i++) {
        const op = group.ops[i]!;
        if (op.params.kind !== "concurrency" || op.leaseId === undefined) continue;
        leaseParts ??= [];
        leaseParts.push({
          store: group.appliedOn,
          limiterId: op.limiterId,
          storeKey: op.key,
          leaseId: op.leaseId,
          leaseMs: op.params.leaseMs,
        });
        // A stand-in's lease needs no record: only the store's are counted while it fails.
        const record =
          group.degraded === undefined
            ? this.#recordStoreLease(group.appliedOn, members[memberOf(group, i)]!.config, op)
            : undefined;
        if (record !== undefined) leaseParts.push(record);
      }
    }
    return {
      allowed,
      waitMs,
      decision,
      grants: grants ?? NONE,
      leaseParts: leaseParts ?? NONE,
      retryIsHint: false,
    };
  }

  /**
   * Counts a call denied after provisional tries (an `acquire()` that timed out or hit a store error): once per
   * member whose own decision denied, as a non-provisional decision would have.
   */
  countDenied(members: readonly Member[], decision: Decision): void {
    const decisions = decision.results ?? [decision];
    for (let m = 0; m < members.length; m++) {
      if (decisions[m]?.allowed === false) this.#countDenial(members[m]!);
    }
  }

  /** Counts one denied call of a member, and records its key for `rs.topKeys()` (the one place denials count). */
  #countDenial(member: Member): void {
    const { entry } = member.resolved;
    if (member.list === "deny") entry.counters.deniedByList++;
    else entry.counters.denied++;
    const top = this.topKeys;
    if (top === undefined) return;
    // Under `hash_keys` the key is personal data the store never sees: only its hash is recorded.
    const hashed = member.config.hashKeys;
    top.record(entry.id, hashed ? member.resolved.storeKey(true) : member.resolved.key, hashed);
  }

  /**
   * A call with members on a list. A member on the deny list refuses the whole call at once: no store is
   * asked for any member, nothing is consumed. Otherwise members on the allow list are admitted without a
   * store, and the others are decided by `decideRest` as a call of their own; the decision is the composite of
   * them all.
   */
  #decideListed(
    members: readonly Member[],
    decideRest: (rest: readonly Member[]) => EngineOutcome | Promise<EngineOutcome>,
  ): EngineOutcome | Promise<EngineOutcome> {
    if (members.some((m) => m.list === "deny")) {
      const decisions = members.map((m) => listDecision(m, m.list === "deny" ? "deny" : undefined));
      for (const m of members) if (m.list === "deny") this.#countDenial(m);
      const decision =
        decisions.length === 1
          ? decisions[0]!
          : { ...this.#composite(decisions, false), list: "deny" as const };
      this.#emitDecisions(members, decisions);
      return {
        allowed: false,
        waitMs: 0,
        decision,
        grants: NONE,
        leaseParts: NONE,
        retryIsHint: false,
        deniedByList: true,
      };
    }
    const rest = members.filter((m) => m.list === undefined);
    const admitted = (callAllowed: boolean): Decision[] => {
      const decisions = members.map((m) =>
        m.list === "allow" ? listDecision(m, "allow") : undefined,
      ) as Decision[];
      for (const m of members)
        if (m.list === "allow" && callAllowed) m.resolved.entry.counters.allowedByList++;
      this.#emitDecisions(members, decisions);
      return decisions;
    };
    if (rest.length === 0) {
      const decisions = admitted(true);
      const decision = decisions.length === 1 ? decisions[0]! : this.#composite(decisions, true);
      return { allowed: true, waitMs: 0, decision, grants: NONE, leaseParts: NONE, retryIsHint: false };
    }
    const merge = (outcome: EngineOutcome): EngineOutcome => {
      const decisions = admitted(outcome.allowed);
      const decided = outcome.decision.results ?? [outcome.decision];
      let next = 0;
      for (let m = 0; m < members.length; m++)
        if (members[m]!.list === undefined) decisions[m] = decided[next++]!;
      return { ...outcome, decision: this.#composite(decisions, outcome.allowed) };
    };
    const outcome = decideRest(rest);
    return outcome instanceof Promise ? outcome.then(merge) : merge(outcome);
  }

  /** The `decision` event of each listed member (the others emitted theirs as they were decided). */
  #emitDecisions(members: readonly Member[], decisions: readonly (Decision | undefined)[]): void {
    if (!this.events.hasListeners("decision")) return;
    for (let m = 0; m < members.length; m++) {
      if (members[m]!.list !== undefined && decisions[m] !== undefined)
        this.events.emit("decision", decisions[m]!);
    }
  }

  /** Gives back what a grant consumed. Never rejects: a failed refund only errs on the safe side (less admitted). */
  async refund(grant: Grant): Promise<void> {
    try {
      await grant.store.refund(grant.ops);
    } catch (error) {
      this.events.emit("storeError", {
        store: grant.store.id,
        limiter: grant.ops[0]?.limiterId ?? "",
        error: toError(error),
      });
    }
  }

  /**
   * Slots this process took from the local stand-in of a store (under `on_store_error = "local"`, while the
   * store was down) are unknown to the store once it is back, yet still held: they count against
   * `max_concurrent` until released or expired. Returns the denial of a batch the store allowed when they leave
   * no room for it (the caller gives back what the store applied), else `undefined` (no allocation, no await:
   * this runs on every allowed call).
   */
  #overLocalSlots(storeId: string, ops: readonly StoreOp[], batch: BatchResult): BatchResult | undefined {
    if (!batch.allowed || this.stores.heldLocally === undefined) return undefined;
    let results: OpResult[] | undefined;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.params.kind !== "concurrency") continue;
      const held = this.stores.heldLocally(storeId, op.limiterId, op.key);
      const result = batch.results[i]!;
      // The store's `remaining` is what is left after this grant: the local slots must fit in it.
      if (held === undefined || held.count <= result.remaining) continue;
      results ??= [...batch.results];
      results[i] = {
        allowed: false,
        limit: result.limit,
        remaining: 0,
        resetAfterMs: Math.max(result.resetAfterMs, held.nextExpiryMs),
        // A hint, as for any concurrency denial: a release usually comes sooner.
        retryAfterMs: held.nextExpiryMs,
        waitMs: 0,
      };
    }
    return results === undefined ? undefined : { allowed: false, results };
  }

  /**
   * A lease the store granted to a member under `on_store_error = "local"`, recorded with the store's local
   * stand-in so that, if the store fails while it is held, the stand-in counts it (see {@link #withStoreSlots}).
   */
  #recordStoreLease(store: Store, config: LimiterConfig, op: StoreOp): LeasePart | undefined {
    // A memory store never fails over, so its leases need no record.
    if (config.onStoreError !== "local" || store.engine === "memory") return undefined;
    if (op.leaseId === undefined || op.params.kind !== "concurrency") return undefined;
    return this.stores.recordStoreLease?.(config.store, op.limiterId, op.key, op.leaseId, op.params.leaseMs);
  }

  /**
   * The ops the local stand-in decides during an outage: a concurrency op's limit lowered by the slots this
   * process still holds in the store (granted before the outage), so that one process never holds more than
   * `max_concurrent` of a key. The same array when nothing is held.
   */
  #withStoreSlots(storeId: string, ops: readonly StoreOp[]): readonly StoreOp[] {
    if (this.stores.heldFromStore === undefined) return ops;
    let out: StoreOp[] | undefined;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.params.kind !== "concurrency") continue;
      const held = this.stores.heldFromStore(storeId, op.limiterId, op.key);
      if (held === undefined) continue;
      out ??= [...ops];
      out[i] = {
        ...op,
        params: { ...op.params, maxConcurrent: Math.max(0, op.params.maxConcurrent - held.count) },
      };
    }
    return out ?? ops;
  }

  /**
   * Results of ops decided with {@link #withStoreSlots}, reported against the limiter's own limit; a denial for
   * lack of room says when the first slot held in the store expires (a hint: a release usually comes sooner).
   */
  #asOwnLimits(storeId: string, ops: readonly StoreOp[], results: readonly OpResult[]): OpResult[] {
    return results.map((result, i) => {
      const op = ops[i]!;
      if (op.params.kind !== "concurrency") return result;
      const held = this.stores.heldFromStore?.(storeId, op.limiterId, op.key);
      if (held === undefined) return result;
      const retryAfterMs = result.allowed ? 0 : Math.min(result.retryAfterMs, held.nextExpiryMs);
      return { ...result, limit: op.params.maxConcurrent, retryAfterMs };
    });
  }

  /**
   * Answers a group whose store call failed, by `on_store_error`: deny wins over local, local over allow.
   * Rejects only when the local stand-in itself fails.
   */
  #onStoreError(
    group: Group,
    members: readonly Member[],
    maxWaitMs: number,
    error: Error,
  ): Promise<void> | undefined {
    let policy: "allow" | "deny" | "local" = "allow";
    for (const m of group.members) {
      const { config, resolved } = members[m]!;
      resolved.entry.counters.storeErrors++;
      this.events.emit("storeError", { store: group.storeId, limiter: resolved.entry.id, error });
      if (config.onStoreError === "deny") policy = "deny";
      else if (config.onStoreError === "local" && policy === "allow") policy = "local";
    }
    if (policy === "local") {
      const fallback = this.stores.fallback(group.storeId);
      const ops = this.#withStoreSlots(group.storeId, group.ops);
      const take = (batch: BatchResult): void => {
        group.batch =
          ops === group.ops
            ? batch
            : { allowed: batch.allowed, results: this.#asOwnLimits(group.storeId, group.ops, batch.results) };
        if (batch.allowed) group.appliedOn = fallback;
        group.degraded = "local";
      };
      // The stand-in is in-process: its answer needs no promise (what `decideSync` relies on).
      const now = fallback.decideNow?.(ops, maxWaitMs);
      if (now === undefined) return fallback.decide(ops, maxWaitMs).then(take);
      take(now);
      return undefined;
    }
    const allowed = policy === "allow";
    group.batch = { allowed, results: group.ops.map((op) => storeErrorResult(op.params, allowed)) };
    group.degraded = "store-error";
    if (!allowed) group.failure = error;
    return undefined;
  }

  #memberDecision(
    member: Member,
    results: readonly OpResult[],
    degraded: Degraded | undefined,
    callAllowed: boolean,
    provisional: boolean,
  ): Decision {
    // The constraining op: the first that denied, else the rate op (listed first), else the concurrency op;
    // among several limits, when none denied, the one with the least left.
    const limits = member.config.limits;
    let at = -1;
    for (let i = 0; i < results.length; i++) {
      if (!results[i]!.allowed) {
        at = i;
        break;
      }
    }
    if (at < 0) {
      at = 0;
      if (limits !== undefined) {
        for (let i = 1; i < limits.length; i++) {
          const r = results[i]!;
          if (r.remaining / r.limit < results[at]!.remaining / results[at]!.limit) at = i;
        }
      }
    }
    if (limits === undefined) {
      return this.#decisionOf(member, results[at]!, member.config.policy, degraded, callAllowed, provisional);
    }
    const reports = limits.map((part, i) => limitReport(results[i]!, part.policy, member.cost, callAllowed));
    const policy = at < limits.length ? limits[at]!.policy : member.config.policy;
    return this.#decisionOf(member, results[at]!, policy, degraded, callAllowed, provisional, reports);
  }

  /**
   * A member's decision from its constraining op's result (reported under `policy`); counts it and emits
   * `decision`. `limits`: where each limit of a multi-limit limiter stands.
   */
  #decisionOf(
    member: Member,
    chosen: OpResult,
    policy: PolicyDescriptor,
    degraded: Degraded | undefined,
    callAllowed: boolean,
    provisional: boolean,
    limits?: readonly LimitReport[],
  ): Decision {
    const { entry } = member.resolved;
    const counters = entry.counters;
    let allowed = chosen.allowed;
    let finalDegraded = degraded;
    if (!allowed && member.config.shadow) {
      // Dry run: count and report what would have happened, never deny.
      allowed = true;
      finalDegraded ??= "shadow";
      counters.shadowDenied++;
    }
    // Each call counts once: a member passed in a denied composite consumed nothing, and a provisional try that
    // denies may still end allowed (the caller counts the denial when it gives up).
    if (allowed && callAllowed) counters.allowed++;
    else if (!allowed && !provisional) this.#countDenial(member);
    if (finalDegraded !== undefined && finalDegraded !== "shadow") counters.degraded++;
    // A member that passed in a refused call was not applied: it reports what it still has, not what it would
    // have had. Every algorithm's `remaining` drops by exactly the units taken (the cost, or one slot); only a
    // reservation can have clamped it at 0, and then 0 stays the honest answer.
    const unapplied = !callAllowed && chosen.allowed && chosen.waitMs === 0;
    const taken = member.config.rate ? member.cost : 1;
    const remaining = unapplied
      ? Math.min(chosen.limit, Math.floor(chosen.remaining + taken))
      : chosen.remaining;
    const retryAfterMs = allowed ? 0 : chosen.retryAfterMs;
    // Two literals rather than a spread: the common, healthy decision allocates one object of one shape.
    const made: Decision =
      finalDegraded === undefined
        ? {
            allowed,
            key: member.resolved.key,
            limiter: entry.id,
            limit: chosen.limit,
            remaining,
            resetAfterMs: chosen.resetAfterMs,
            retryAfterMs,
            policy,
          }
        : {
            allowed,
            key: member.resolved.key,
            limiter: entry.id,
            limit: chosen.limit,
            remaining,
            resetAfterMs: chosen.resetAfterMs,
            retryAfterMs,
            policy,
            degraded: finalDegraded,
          };
    const decision = this.#withBlock(member, chosen, limits === undefined ? made : { ...made, limits });
    if (this.events.hasListeners("decision")) this.events.emit("decision", decision);
    return decision;
  }

  /** A decision with its block (`blocked`), and the `blocked` event when this call started the block. */
  #withBlock(member: Member, chosen: OpResult, decision: Decision): Decision {
    const block = chosen.block;
    if (block === undefined) return decision;
    if (block.started) {
      this.events.emit("blocked", {
        limiter: member.resolved.entry.id,
        key: member.resolved.key,
        durationMs: block.leftMs,
        count: block.count,
      });
    }
    return { ...decision, blocked: true };
  }

  /**
   * A composite's decision: all-of, with the fields of its most constraining member. When refused, a real limit
   * speaks before a store failure (so an HTTP layer answers 429, not 503, when a healthy limit said no), then
   * the longest wait; the composite is `degraded` only as its deciding member is.
   */
  #composite(decisions: readonly Decision[], allowed: boolean): Decision {
    const genuine = (d: Decision) => (d.degraded === "store-error" ? 0 : 1);
    let chosen = decisions[0]!;
    for (const d of decisions) {
      if (allowed) {
        if (d.remaining / d.limit < chosen.remaining / chosen.limit) chosen = d;
      } else if (
        !d.allowed &&
        (chosen.allowed ||
          genuine(d) > genuine(chosen) ||
          (genuine(d) === genuine(chosen) && d.retryAfterMs > chosen.retryAfterMs))
      ) {
        chosen = d;
      }
    }
    let degraded: Degraded | undefined = allowed ? undefined : chosen.degraded;
    if (allowed) {
      for (const d of decisions) {
        if (d.degraded === "store-error") degraded = "store-error";
        else if (d.degraded === "local" && degraded !== "store-error") degraded = "local";
        else if (d.degraded === "shadow" && degraded === undefined) degraded = "shadow";
      }
    }
    return {
      ...chosen,
      allowed,
      retryAfterMs: allowed ? 0 : chosen.retryAfterMs,
      ...(degraded === undefined ? {} : { degraded }),
      results: decisions,
    };
  }
}
