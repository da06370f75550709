/**
 * @module
 * The body of a refused request: RFC 9457 problem details (`application/problem+json`), with the
 * `violated-policies` member of draft-ietf-httpapi-ratelimit-headers-10 naming the policies that denied; and
 * the body of a request whose key matches no limiter (a 500 that names nothing internal).
 */

import type { Decision } from "../core/types.ts";
import { retryAfterSeconds } from "./headers.ts";

/** Media type of {@link ProblemDetails} bodies. */
export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** An RFC 9457 problem details object, as sent with a 429 or a 503. */
export interface ProblemDetails {
  /** A URI naming the kind of problem. */
  readonly type: string;
  /** Short, human-readable summary of the kind of problem. */
  readonly title: string;
  /** The HTTP status code (403 or 429 for a key or address on the deny list: `[lists] deny_status`). */
  readonly status: 403 | 429 | 503;
  /** What happened to this request, and when to retry. */
  readonly detail: string;
  /** Names of the policies (limiter ids) that refused the request, as in `RateLimit-Policy`. */
  readonly "violated-policies": readonly string[];
}

/** Names of the members that denied, each once, in the order asked. */
export function violatedPolicies(decision: Decision): string[] {
  const members = decision.results ?? [decision];
  const names = members.filter((d) => !d.allowed).map((d) => d.policy.name);
  if (names.length === 0) names.push(decision.policy.name);
  return [...new Set(names)];
}

/**
 * The HTTP status of a refusal: `denyStatus` (403 unless `[lists] deny_status` says 429) when the deny list
 * refused it, 503 when the store failed under `on_store_error = "deny"`, else 429.
 */
export function refusalStatus(decision: Decision, denyStatus: 403 | 429 = 403): 403 | 429 | 503 {
  if (decision.list === "deny") return denyStatus;
  return decision.degraded === "store-error" ? 503 : 429;
}

/** The problem details body of a refused decision. */
export function problemDetails(decision: Decision, denyStatus: 403 | 429 = 403): ProblemDetails {
  const status = refusalStatus(decision, denyStatus);
  const policies = violatedPolicies(decision);
  if (decision.list === "deny") {
    // Says no more than that the request is refused: which list entry matched is the operator's business.
    return status === 403
      ? {
          type: "https://www.rfc-editor.org/rfc/rfc9110#name-403-forbidden",
          title: "Forbidden",
          status,
          detail: `Requests of this client are refused by policy ${policies.join(", ")}.`,
          "violated-policies": policies,
        }
      : {
          type: "https://www.rfc-editor.org/rfc/rfc6585#section-4",
          title: "Too Many Requests",
          status,
          detail: `Requests of this client are refused by policy ${policies.join(", ")}; retrying will not help.`,
          "violated-policies": policies,
        };
  }
  const seconds = retryAfterSeconds(decision.retryAfterMs);
  if (status === 503) {
    return {
      type: "https://www.rfc-editor.org/rfc/rfc9110#name-503-service-unavailable",
      title: "Service Unavailable",
      status,
      detail: `The rate limit store is unavailable and policy ${policies.join(", ")} does not admit requests without it; retry in ${seconds ?? 1} s.`,
      "violated-policies": policies,
    };
  }
  return {
    type: "https://www.rfc-editor.org/rfc/rfc6585#section-4",
    title: "Too Many Requests",
    status,
    detail:
      seconds === undefined
        ? `The request costs more than policy ${policies.join(", ")} can ever admit.`
        : `Rate limit exceeded for policy ${policies.join(", ")}; retry in ${seconds} s.`,
    "violated-policies": policies,
  };
}

/** The body of a 500 answered when the request's key matches no limiter (a config that lost its limiter). */
export interface ServerProblemDetails {
  readonly type: string;
  readonly title: string;
  readonly status: 500;
  /** Says what failed without naming keys, limiters or files: those go to the `unknownLimiter` event. */
  readonly detail: string;
}

/**
 * The body of the 500 for a key that matches no limiter: no stack, no key (it may hold the client's address
 * or user), no limiter id or file path. The operator learns the details from the `unknownLimiter` event (or
 * the notice written when nobody listens to it).
 */
export function unknownLimiterProblem(): ServerProblemDetails {
  return {
    type: "https://www.rfc-editor.org/rfc/rfc9110#name-500-internal-server-error",
    title: "Internal Server Error",
    status: 500,
    detail: "The rate limit configuration has no limit for this request.",
  };
}
