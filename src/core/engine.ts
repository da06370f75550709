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
import type { LimiterConfig } from "../config/types.ts";
import { StoreError, StoreUnavailableError } from "../errors.ts";
import type { HeldLeases } from "../stores/memory/memory-store.ts";
import type { BatchResult, OpResult, Store, StoreOp } from "../stores/store.ts";
import type { TypedEmitter } from "./events.ts";
import type { ResolvedKey } from "./registry.ts";
import type { Decision, Degraded, RateSyncEvents } from "./types.ts";

/** A shared empty list, for outcomes with no grants or leases (nothing may push to it: it is frozen). */
const NONE: readonly never[] = Object.freeze([]);

/** Retry hint of a call denied because its store failed under `on_store_error = "deny"`. */
export const STORE_ERROR_RETRY_MS = 1000;

/** One key of a call, bound to the config it is decided with (one whole config per call, even mid-reload). */
export interface Member {
  readonly resolved: ResolvedKey;
  readonly config: LimiterConfig;
  readonly cost: number;
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
  /** The store failure behind a denial under `on_store_error = "deny"`. */
  readonly storeError?: StoreError;
  /**
   * True when the denial came from a concurrency limit: its `retryAfterMs` is only the latest a slot frees by expiry
   * (a lease expiring), while a release may come any moment.
   */
  readonly retryIsHint: boolean;
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

interface Group {
  readonly storeId: string;
  readonly members: number[];
  readonly ops: StoreOp[];
  /** For each op, the index of its member. */
  readonly opMember: number[];
}

interface GroupOutcome {
  readonly allowed: boolean;
  /** Set when the store failed and `on_store_error = "deny"` denied the group. */
  readonly storeError?: StoreError;
  readonly results: readonly OpResult[];
  /** The store that applied the ops, when it did. */
  readonly appliedOn: Store | undefined;
  readonly degraded: Degraded | undefined;
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

/** Decides calls for one RateSync instance. */
export class Engine {
  constructor(
    readonly stores: StoreProvider,
    readonly events: TypedEmitter<RateSyncEvents>,
  ) {}

  /**
   * Decides a call. `maxWaitMs` is the reservation budget of token and leaky buckets (0 decides now).
   */
  async decide(
    members: readonly Member[],
    maxWaitMs: number,
    options: DecideOptions = {},
  ): Promise<EngineOutcome> {
    return (
      this.decideNow(members, maxWaitMs, options) ?? this.decideThroughStores(members, maxWaitMs, options)
    );
  }

  /**
   * {@link decide} without first trying {@link decideNow}: for callers that already tried it and got nothing.
   */
  async decideThroughStores(
    members: readonly Member[],
    maxWaitMs: number,
    options: DecideOptions = {},
  ): Promise<EngineOutcome> {
    if (members.length === 1) return this.#decideOne(members, maxWaitMs, options);
    const groups = this.#plan(members);
    const outcomes = await this.#runGroups(groups, members, maxWaitMs);
    return this.#assemble(members, groups, outcomes, options);
  }

  /**
   * One key through its store: the same outcome as the general path, without its grouping and per-member
   * arrays (the common remote call). A store failure goes through the general path's policy handling.
   */
  async #decideOne(
    members: readonly Member[],
    maxWaitMs: number,
    options: DecideOptions,
  ): Promise<EngineOutcome> {
    const member = members[0]!;
    const store = this.stores.store(member.config.store);
    const ops = member.resolved.opsFor(member.config, member.cost);
    const budgetMs = member.config.shadow ? 0 : maxWaitMs;
    let batch: BatchResult;
    try {
      batch = await store.decide(ops, budgetMs);
      const overLocal = this.#overLocalSlots(member.config.store, ops, batch);
      if (overLocal !== undefined) {
        await store.refund(ops).catch(() => {});
        batch = overLocal;
      }
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      const group: Group = { storeId: member.config.store, members: [0], ops, opMember: ops.map(() => 0) };
      const outcome = await this.#onStoreError(group, members, budgetMs, toError(error));
      return this.#assemble(members, [group], [outcome], options);
    }
    return this.#singleOutcome(member, store, ops, batch, options);
  }

  /** Turns the outcomes of every group of a call into the call's outcome (refunding when it is denied). */
  async #assemble(
    members: readonly Member[],
    groups: readonly Group[],
    outcomes: readonly GroupOutcome[],
    options: DecideOptions,
  ): Promise<EngineOutcome> {
    const provisional = options.provisional === true;

    // Per-member results (and the kind of limit each came from), in op order.
    const memberResults: OpResult[][] = members.map(() => []);
    const memberKinds: LimitParams["kind"][][] = members.map(() => []);
    const memberDegraded: (Degraded | undefined)[] = members.map(() => undefined);
    let allowed = true;
    let waitMs = 0;
    let storeError: StoreError | undefined;
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g]!;
      const outcome = outcomes[g]!;
      for (let i = 0; i < group.ops.length; i++) {
        memberResults[group.opMember[i]!]!.push(outcome.results[i]!);
        memberKinds[group.opMember[i]!]!.push(group.ops[i]!.params.kind);
      }
      for (const m of group.members) memberDegraded[m] = outcome.degraded;
      const shadow = members[group.members[0]!]!.config.shadow;
      if (!outcome.allowed && !shadow) allowed = false;
      storeError ??= outcome.storeError;
      if (outcome.allowed) for (const r of outcome.results) if (r.waitMs > waitMs) waitMs = r.waitMs;
    }

    const grants: Grant[] = [];
    /** For each grant, the group it came from. */
    const grantGroups: number[] = [];
    const leaseParts: LeasePart[] = [];
    for (let g = 0; g < groups.length; g++) {
      const outcome = outcomes[g]!;
      if (outcome.appliedOn === undefined) continue;
      grants.push({ store: outcome.appliedOn, ops: groups[g]!.ops });
      grantGroups.push(g);
    }
    if (!allowed && grants.length > 0) {
      // Denied calls consume nothing: give back what the members that passed took.
      await Promise.all(grants.map((grant) => this.refund(grant)));
      grants.length = 0;
    }
    if (allowed) {
      for (let k = 0; k < grants.length; k++) {
        const grant = grants[k]!;
        const group = groups[grantGroups[k]!]!;
        const fromStore = outcomes[grantGroups[k]!]!.degraded === undefined;
        for (let i = 0; i < grant.ops.length; i++) {
          const op = grant.ops[i]!;
          if (op.params.kind !== "concurrency" || op.leaseId === undefined) continue;
          leaseParts.push({
            store: grant.store,
            limiterId: op.limiterId,
            storeKey: op.key,
            leaseId: op.leaseId,
            leaseMs: op.params.leaseMs,
          });
          const record = fromStore
            ? this.#recordStoreLease(grant.store, members[group.opMember[i]!]!.config, op)
            : undefined;
          if (record !== undefined) leaseParts.push(record);
        }
      }
    }

    const decisions = members.map((member, m) =>
      this.#memberDecision(member, memberResults[m]!, memberDegraded[m], allowed, provisional),
    );
    const decision = decisions.length === 1 ? decisions[0]! : this.#composite(decisions, allowed);
    // Which limit the caller's retry hint came from: the deciding member's constraining op.
    let retryIsHint = false;
    if (!allowed) {
      const m = decisions.findIndex((d) => d.key === decision.key && d.limiter === decision.limiter);
      const results = memberResults[m] ?? [];
      const denied = results.findIndex((r) => !r.allowed);
      retryIsHint = memberKinds[m]?.[denied] === "concurrency";
    }
    return {
      allowed,
      waitMs: allowed ? waitMs : 0,
      decision,
      grants,
      leaseParts,
      retryIsHint,
      ...(storeError === undefined || allowed ? {} : { storeError }),
    };
  }

  /**
   * The hot path: one key on a store that can answer synchronously (the memory store, or a remote store's
   * over-limit cache), with no promise, no grouping and no per-member arrays. Undefined when it does not apply
   * (several keys, a store that needs a round trip, or a store that threw: the general path then handles the
   * failure with `on_store_error`).
   */
  decideNow(
    members: readonly Member[],
    maxWaitMs: number,
    options: DecideOptions = {},
  ): EngineOutcome | undefined {
    if (members.length !== 1) return undefined;
    const member = members[0]!;
    const store = this.stores.store(member.config.store);
    if (store.decideNow === undefined) return undefined;
    const ops = member.resolved.opsFor(member.config, member.cost);
    let batch: BatchResult | undefined;
    try {
      batch = store.decideNow(ops, member.config.shadow ? 0 : maxWaitMs);
    } catch {
      return undefined;
    }
    if (batch === undefined) return undefined;
    return this.#singleOutcome(member, store, ops, batch, options);
  }

  /** The outcome of a one-key call from its store's answer (shadow applied, leases collected). */
  #singleOutcome(
    member: Member,
    store: Store,
    ops: readonly StoreOp[],
    batch: BatchResult,
    options: DecideOptions,
  ): EngineOutcome {
    for (const result of batch.results) if (result.fromCache) member.resolved.entry.counters.localCacheHits++;
    const shadow = member.config.shadow;
    const allowed = batch.allowed || shadow;
    const decision = this.#memberDecision(
      member,
      batch.results,
      undefined,
      allowed,
      options.provisional === true,
    );
    if (!allowed) {
      const denied = batch.results.findIndex((r) => !r.allowed);
      return {
        allowed,
        waitMs: 0,
        decision,
        grants: NONE,
        leaseParts: NONE,
        retryIsHint: ops[denied]?.params.kind === "concurrency",
      };
    }
    let waitMs = 0;
    let leaseParts: LeasePart[] | undefined;
    if (batch.allowed) {
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!;
        const result = batch.results[i]!;
        if (result.waitMs > waitMs) waitMs = result.waitMs;
        if (op.params.kind === "concurrency" && op.leaseId !== undefined) {
          leaseParts ??= [];
          leaseParts.push({
            store,
            limiterId: op.limiterId,
            storeKey: op.key,
            leaseId: op.leaseId,
            leaseMs: op.params.leaseMs,
          });
          const record = this.#recordStoreLease(store, member.config, op);
          if (record !== undefined) leaseParts.push(record);
        }
      }
    }
    return {
      allowed,
      waitMs,
      decision,
      grants: batch.allowed ? [{ store, ops }] : NONE,
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
      if (decisions[m]?.allowed === false) members[m]!.resolved.entry.counters.denied++;
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

  /** Builds the store operations of a call, grouped by store (shadow members on their own). */
  #plan(members: readonly Member[]): Group[] {
    if (members.length === 1) {
      // One key: one group, without the map that sorts several members into groups.
      const group: Group = { storeId: members[0]!.config.store, members: [0], ops: [], opMember: [] };
      this.#addOps(group, members[0]!, 0);
      return [group];
    }
    const groups = new Map<string, Group>();
    for (let m = 0; m < members.length; m++) {
      const { config } = members[m]!;
      const groupKey = config.shadow ? `shadow\0${m}` : config.store;
      let group = groups.get(groupKey);
      if (!group) {
        group = { storeId: config.store, members: [], ops: [], opMember: [] };
        groups.set(groupKey, group);
      }
      group.members.push(m);
      this.#addOps(group, members[m]!, m);
    }
    return [...groups.values()];
  }

  /** Appends a member's store operations (its rate limit, then its concurrency limit) to a group. */
  #addOps(group: Group, member: Member, m: number): void {
    for (const op of member.resolved.opsFor(member.config, member.cost)) {
      group.ops.push(op);
      group.opMember.push(m);
    }
  }

  /**
   * Runs every group. A store that cannot work at all (its driver package is missing) is a setup error, not an
   * outage: `on_store_error` does not hide it; the call rejects with it after giving back what other groups took.
   */
  async #runGroups(
    groups: readonly Group[],
    members: readonly Member[],
    maxWaitMs: number,
  ): Promise<GroupOutcome[]> {
    // One group (the common case): nothing else ran, so nothing to give back if it rejects; skipping
    // `allSettled` saves its allocations and a few microtask turns per call.
    if (groups.length === 1) return [await this.#runGroup(groups[0]!, members, maxWaitMs)];
    const settled = await Promise.allSettled(
      groups.map((group) => this.#runGroup(group, members, maxWaitMs)),
    );
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed === undefined) return settled.map((s) => (s as PromiseFulfilledResult<GroupOutcome>).value);
    await Promise.all(
      settled.map((s, g) =>
        s.status === "fulfilled" && s.value.appliedOn !== undefined
          ? this.refund({ store: s.value.appliedOn, ops: groups[g]!.ops })
          : undefined,
      ),
    );
    throw failed.reason;
  }

  async #runGroup(group: Group, members: readonly Member[], maxWaitMs: number): Promise<GroupOutcome> {
    const store = this.stores.store(group.storeId);
    // A shadow limiter never makes a call wait: it never reserves, and what would have waited counts as a
    // shadow denial instead (SPEC §6: shadow limiters never block).
    const budgetMs = members[group.members[0]!]!.config.shadow ? 0 : maxWaitMs;
    let batch: BatchResult;
    try {
      batch = await store.decide(group.ops, budgetMs);
      const overLocal = this.#overLocalSlots(group.storeId, group.ops, batch);
      if (overLocal !== undefined) {
        await store.refund(group.ops).catch(() => {});
        batch = overLocal;
      }
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      return this.#onStoreError(group, members, budgetMs, toError(error));
    }
    for (let i = 0; i < batch.results.length; i++) {
      if (batch.results[i]!.fromCache) members[group.opMember[i]!]!.resolved.entry.counters.localCacheHits++;
    }
    return {
      allowed: batch.allowed,
      results: batch.results,
      appliedOn: batch.allowed ? store : undefined,
      degraded: undefined,
    };
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

  /** Applies `on_store_error` after a failed store call: deny wins over local, local over allow. */
  async #onStoreError(
    group: Group,
    members: readonly Member[],
    maxWaitMs: number,
    error: Error,
  ): Promise<GroupOutcome> {
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
      const batch = await fallback.decide(ops, maxWaitMs);
      return {
        allowed: batch.allowed,
        results:
          ops === group.ops ? batch.results : this.#asOwnLimits(group.storeId, group.ops, batch.results),
        appliedOn: batch.allowed ? fallback : undefined,
        degraded: "local",
      };
    }
    const allowed = policy === "allow";
    return {
      allowed,
      results: group.ops.map((op) => storeErrorResult(op.params, allowed)),
      appliedOn: undefined,
      degraded: "store-error",
      ...(allowed
        ? {}
        : {
            storeError:
              error instanceof StoreError
                ? error
                : new StoreError(group.storeId, error.message, { cause: error }),
          }),
    };
  }

  #memberDecision(
    member: Member,
    results: readonly OpResult[],
    degraded: Degraded | undefined,
    callAllowed: boolean,
    provisional: boolean,
  ): Decision {
    // The constraining op: the first that denied, else the rate op (listed first), else the concurrency op.
    let chosen = results[0]!;
    for (let i = 0; i < results.length; i++) {
      if (!results[i]!.allowed) {
        chosen = results[i]!;
        break;
      }
    }
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
    else if (!allowed && !provisional) counters.denied++;
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
    const { policy } = member.config;
    // Two literals rather than a spread: the common, healthy decision allocates one object of one shape.
    const decision: Decision =
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
    if (this.events.hasListeners("decision")) this.events.emit("decision", decision);
    return decision;
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
