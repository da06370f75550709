/**
 * @module
 * Rate limit response headers: draft-ietf-httpapi-ratelimit-headers-10 (`RateLimit-Policy`, `RateLimit`, as
 * Structured Field lists, RFC 9651), the legacy `X-RateLimit-*` trio, and `Retry-After`.
 */

import type { Decision } from "../core/types.ts";

/**
 * Which rate limit headers to send:
 * - `"draft-10"`: `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-10);
 * - `"legacy"`: `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`;
 * - `"both"`; `false`: none. `Retry-After` is sent on every 429 and 503 whatever this says.
 * @default "draft-10"
 */
export type HeadersMode = "draft-10" | "legacy" | "both" | false;

/** Response headers as name/value pairs, in the order to set them. */
export type HeaderList = [name: string, value: string][];

function percentEncode(char: string): string {
  try {
    return encodeURIComponent(char);
  } catch {
    // A lone surrogate has no UTF-8 form: stand in U+FFFD, as a decoder would.
    return "%EF%BF%BD";
  }
}

/**
 * Serializes a Structured Field String: quoted, `\` and `"` escaped. An sf-string holds printable ASCII only,
 * so any other character (a limiter id may be Unicode) is percent-encoded instead of being dropped.
 */
export function sfString(value: string): string {
  let out = '"';
  for (const char of value) {
    const code = char.codePointAt(0)!;
    if (char === '"' || char === "\\") out += `\\${char}`;
    else if (code >= 0x20 && code <= 0x7e && char !== "%") out += char;
    else out += percentEncode(char);
  }
  return `${out}"`;
}

/** A non-negative sf-integer (at most 15 digits, as RFC 9651 allows). */
function sfInteger(value: number): string {
  if (!Number.isFinite(value) || value <= 0) return "0";
  return String(Math.min(Math.floor(value), 999_999_999_999_999));
}

/** Whole seconds, rounded up: a client told "0" too early would come back before the limit allows. */
export function ceilSeconds(ms: number): number {
  return Math.max(0, Math.ceil(ms / 1000));
}

/** What a header reports of one limit: its policy and where it stands. */
export type ReportedLimit = Pick<Decision, "policy" | "limit" | "remaining" | "resetAfterMs">;

/**
 * The limits a header reports: one per limiter that applied (each member of a composite), and each limit of a
 * multi-limit limiter as its own policy. Members whose store failed are left out: their numbers are
 * placeholders, not state, and must not mislead a client.
 */
export function reportedDecisions(decision: Decision): ReportedLimit[] {
  const members = decision.results ?? [decision];
  const reported: ReportedLimit[] = [];
  for (const d of members) {
    if (d.degraded === "store-error") continue;
    if (d.limits === undefined) reported.push(d);
    else reported.push(...d.limits);
  }
  return reported;
}

/** `"api";q=100;w=60, …` — one list member per decision; no `w` for a concurrency-only policy. */
export function rateLimitPolicyHeader(decisions: readonly ReportedLimit[]): string {
  return decisions
    .map(({ policy }) => {
      let item = `${sfString(policy.name)};q=${sfInteger(policy.quota)}`;
      if (policy.windowSeconds !== undefined) item += `;w=${sfInteger(policy.windowSeconds)}`;
      return item;
    })
    .join(", ");
}

/** `"api";r=42;t=18, …` — remaining units (whole) and seconds until the full quota is back (rounded up). */
export function rateLimitHeader(decisions: readonly ReportedLimit[]): string {
  return decisions
    .map(
      (d) =>
        `${sfString(d.policy.name)};r=${sfInteger(d.remaining)};t=${sfInteger(ceilSeconds(d.resetAfterMs))}`,
    )
    .join(", ");
}

/**
 * `Retry-After` in whole seconds, at least 1 (a `0` invites an immediate retry storm). Undefined when no retry
 * can ever succeed (`retryAfterMs` is `Infinity`: the cost is above the limit's capacity).
 */
export function retryAfterSeconds(retryAfterMs: number): number | undefined {
  if (!Number.isFinite(retryAfterMs)) return undefined;
  return Math.max(1, ceilSeconds(retryAfterMs));
}

/** The rate limit headers of a decision, in the chosen mode (no `Retry-After`: see {@link retryAfterSeconds}). */
export function rateLimitHeaders(decision: Decision, mode: HeadersMode): HeaderList {
  const headers: HeaderList = [];
  if (mode === false) return headers;
  const decisions = reportedDecisions(decision);
  if (decisions.length === 0) return headers;
  if (mode === "draft-10" || mode === "both") {
    headers.push(["RateLimit-Policy", rateLimitPolicyHeader(decisions)]);
    headers.push(["RateLimit", rateLimitHeader(decisions)]);
  }
  if (mode === "legacy" || mode === "both") {
    // One number each: the most constraining limiter's (what the decision itself reports).
    const main = decision.degraded === "store-error" ? decisions[0]! : decision;
    headers.push(["X-RateLimit-Limit", sfInteger(main.limit)]);
    headers.push(["X-RateLimit-Remaining", sfInteger(main.remaining)]);
    headers.push(["X-RateLimit-Reset", sfInteger(ceilSeconds(main.resetAfterMs))]);
  }
  return headers;
}
