/**
 * @module
 * Concurrency limit: at most `maxConcurrent` (N) leases held at once per key. A lease ends on release or when
 * `leaseMs` pass without renewal (so a crashed holder frees its slot). State: lease id → expiry time. The
 * functions never mutate the map they are given; they return a new one when something changed.
 */

import type { RefundOutcome } from "../shared.ts";
import type { ConcurrencyParams, ConcurrencyState, Outcome, PeekOutcome } from "../types.ts";

/** Live leases as of `nowMs` (the same map when none has expired), with their earliest and latest expiry. */
interface Live {
  leases: ReadonlyMap<string, number>;
  minExpiresAt: number;
  maxExpiresAt: number;
}

function liveLeases(state: ConcurrencyState | undefined, nowMs: number): Live {
  let minExpiresAt = Number.POSITIVE_INFINITY;
  let maxExpiresAt = Number.NEGATIVE_INFINITY;
  if (state === undefined) return { leases: EMPTY, minExpiresAt, maxExpiresAt };
  let expired = false;
  for (const expiresAt of state.leases.values()) {
    if (expiresAt <= nowMs) {
      expired = true;
    } else {
      if (expiresAt < minExpiresAt) minExpiresAt = expiresAt;
      if (expiresAt > maxExpiresAt) maxExpiresAt = expiresAt;
    }
  }
  if (!expired) return { leases: state.leases, minExpiresAt, maxExpiresAt };
  const leases = new Map<string, number>();
  for (const [id, expiresAt] of state.leases) if (expiresAt > nowMs) leases.set(id, expiresAt);
  return { leases, minExpiresAt, maxExpiresAt };
}

const EMPTY: ReadonlyMap<string, number> = new Map();

function ttlOf(leases: ReadonlyMap<string, number>, nowMs: number): number {
  let max = nowMs;
  for (const expiresAt of leases.values()) if (expiresAt > max) max = expiresAt;
  return max - nowMs;
}

function stateOf(leases: ReadonlyMap<string, number>, nowMs: number): RefundOutcome<ConcurrencyState> {
  return leases.size === 0
    ? { state: undefined, ttlMs: 0 }
    : { state: { leases }, ttlMs: ttlOf(leases, nowMs) };
}

/**
 * Grants lease `leaseId` (expiring `leaseMs` from now) when fewer than `maxConcurrent` live leases are held.
 * When denied, `retryAfterMs` is the time until the earliest lease expires — a hint, a release usually comes
 * sooner. A lease id that is already live counts like any other and is refreshed when granted.
 *
 * @example
 * acquireLease({ kind: "concurrency", maxConcurrent: 2, leaseMs: 30_000 }, undefined, 0, "a")
 * // → allowed, remaining 1, state { leases: Map { "a" → 30000 } }
 */
export function acquireLease(
  params: ConcurrencyParams,
  state: ConcurrencyState | undefined,
  nowMs: number,
  leaseId: string,
): Outcome<ConcurrencyState> {
  const { maxConcurrent, leaseMs } = params;
  const live = liveLeases(state, nowMs);
  const count = live.leases.size;
  if (count + 1 <= maxConcurrent) {
    const leases = new Map(live.leases);
    const expiresAt = nowMs + leaseMs;
    leases.set(leaseId, expiresAt);
    const ttlMs = Math.max(expiresAt, live.maxExpiresAt) - nowMs;
    return {
      allowed: true,
      limit: maxConcurrent,
      remaining: Math.max(0, maxConcurrent - count - 1),
      resetAfterMs: ttlMs,
      retryAfterMs: 0,
      waitMs: 0,
      state: { leases },
      ttlMs,
    };
  }
  const resetAfterMs = count > 0 ? live.maxExpiresAt - nowMs : 0;
  return {
    allowed: false,
    limit: maxConcurrent,
    remaining: 0,
    resetAfterMs,
    retryAfterMs: count > 0 ? live.minExpiresAt - nowMs : 0,
    waitMs: 0,
    state,
    ttlMs: resetAfterMs,
  };
}

/** Outcome of {@link renewLease}. */
export interface RenewOutcome extends RefundOutcome<ConcurrencyState> {
  /** False when the lease was not live (expired or released): nothing changed. */
  readonly renewed: boolean;
}

/** Extends a live lease to expire `leaseMs` from now; reports `renewed: false` when it is gone. */
export function renewLease(
  state: ConcurrencyState | undefined,
  nowMs: number,
  leaseId: string,
  leaseMs: number,
): RenewOutcome {
  const live = liveLeases(state, nowMs);
  if (!live.leases.has(leaseId)) return { renewed: false, ...stateOf(live.leases, nowMs) };
  const leases = new Map(live.leases);
  leases.set(leaseId, nowMs + leaseMs);
  return { renewed: true, ...stateOf(leases, nowMs) };
}

/** Ends a lease. Idempotent: an unknown or expired lease changes nothing but the dropping of expired ones. */
export function releaseLease(
  state: ConcurrencyState | undefined,
  nowMs: number,
  leaseId: string,
): RefundOutcome<ConcurrencyState> {
  const live = liveLeases(state, nowMs);
  if (!live.leases.has(leaseId)) return stateOf(live.leases, nowMs);
  const leases = new Map(live.leases);
  leases.delete(leaseId);
  return stateOf(leases, nowMs);
}

/** Reports a concurrency limit as of `nowMs`, consuming nothing. */
export function peekConcurrency(
  params: ConcurrencyParams,
  state: ConcurrencyState | undefined,
  nowMs: number,
): PeekOutcome {
  const live = liveLeases(state, nowMs);
  return {
    limit: params.maxConcurrent,
    remaining: Math.max(0, params.maxConcurrent - live.leases.size),
    resetAfterMs: live.leases.size > 0 ? live.maxExpiresAt - nowMs : 0,
  };
}
