/**
 * @module
 * The framework-neutral heart of the HTTP adapters: from a request (seen through {@link RequestView}) to a
 * verdict — skip, allow with headers and a slot to release, or refuse with status, headers and a problem
 * body. Adapters only translate requests in and verdicts out.
 */

import { parseDuration } from "../config/units.ts";
import { getRateSync } from "../core/default-instance.ts";
import type { KeyInput } from "../core/rate-sync.ts";
import type { Decision, DurationInput, Lease } from "../core/types.ts";
import {
  InvalidArgumentError,
  isRateLimitExceededError,
  isStoreError,
  isUnknownLimiterError,
  type UnknownLimiterError,
} from "../errors.ts";
import { clientIp, compileTrustProxy, parseRanges } from "./client-ip.ts";
import { type HeaderList, type HeadersMode, rateLimitHeaders, retryAfterSeconds } from "./headers.ts";
import { formatIp, groupIp, type IpRange, inRange, type ParsedIp } from "./ip.ts";
import { fillKeys, KeyTemplate, type RequestValues } from "./key-template.ts";
import type { RateLimitOptions } from "./options.ts";
import {
  type ProblemDetails,
  problemDetails,
  refusalStatus,
  type ServerProblemDetails,
  unknownLimiterProblem,
} from "./problem.ts";

/** What `<ip>` stands for when the socket address is unknown: such requests share one bucket. */
export const UNKNOWN_IP = "unknown";

/** How an adapter shows a request to the core. */
export interface RequestView {
  /** HTTP method, any case. */
  readonly method: string;
  /** URL path without the query string. */
  readonly path: string;
  /** The TCP peer's address, if known. */
  readonly socketAddress: string | undefined;
  /** A request header by lowercase name; several values joined with `, `. */
  header(name: string): string | undefined;
}

/** The request goes ahead. */
export interface AllowVerdict {
  readonly action: "allow";
  readonly decision: Decision;
  /** Rate limit headers to set on the response. */
  readonly headers: HeaderList;
  /** Gives back the concurrency slot, if one was taken; idempotent. Call when the response is done. */
  release(): Promise<void>;
}

/**
 * The request is refused (429; 503 when the store failed under `on_store_error = "deny"`; 403, or 429 with
 * `[lists] deny_status = 429`, when its key or client address is on the deny list).
 */
export interface RefuseVerdict {
  readonly action: "refuse";
  readonly decision: Decision;
  readonly status: 403 | 429 | 503;
  /** Rate limit headers and `Retry-After`. */
  readonly headers: HeaderList;
  readonly body: ProblemDetails;
}

/**
 * The request's key matches no limiter (a reload removed or renamed it): answer 500 with a problem body that
 * names nothing internal. The instance has already emitted `unknownLimiter` with the details.
 */
export interface ErrorVerdict {
  readonly action: "error";
  readonly status: 500;
  readonly body: ServerProblemDetails;
  readonly error: UnknownLimiterError;
}

/** What to do with a request. `skip`: not limited at all (skip option, exempt address). */
export type Verdict = { readonly action: "skip" } | AllowVerdict | RefuseVerdict | ErrorVerdict;

function toText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const text = String(value);
  return text === "" ? undefined : text;
}

/** The headers of a refusal: the rate limit headers, then `Retry-After` when a retry can succeed. */
function refusalHeaders(decision: Decision, mode: HeadersMode): HeaderList {
  // A deny-list refusal has no quota that resets and no retry that helps: no header would say anything true.
  if (decision.list === "deny") return [];
  const headers = rateLimitHeaders(decision, mode);
  const seconds = retryAfterSeconds(decision.retryAfterMs);
  if (seconds !== undefined) headers.push(["Retry-After", String(seconds)]);
  return headers;
}

/** Checks requests against one set of options. Options are validated when it is created. */
export class RequestLimiter<Req> {
  readonly #options: RateLimitOptions<Req>;
  readonly #templates: readonly KeyTemplate[] | undefined;
  readonly #trust: ReturnType<typeof compileTrustProxy>;
  readonly #exempt: readonly IpRange[];
  readonly #headers: HeadersMode;
  readonly #ipv6Subnet: number | false;
  /** The `wait` option as given (a duration); undefined: decide with `tryAcquire`. */
  readonly #wait: DurationInput | undefined;

  /** @throws InvalidArgumentError for an invalid option (the message names it). */
  constructor(options: RateLimitOptions<Req>) {
    const { key, headers = "draft-10", ipv6Subnet = 64, wait = false } = options;
    if (typeof key === "function") this.#templates = undefined;
    else {
      const list: readonly unknown[] = typeof key === "string" ? [key] : Array.isArray(key) ? key : [];
      if (list.length === 0 || !list.every((k) => typeof k === "string" && k !== "")) {
        throw new InvalidArgumentError(
          "key: expected a non-empty key or template, a non-empty list of them, or a function of the request",
        );
      }
      this.#templates = (list as string[]).map((k) => new KeyTemplate(k));
    }
    if (headers !== false && headers !== "draft-10" && headers !== "legacy" && headers !== "both") {
      throw new InvalidArgumentError(
        `headers: expected "draft-10", "legacy", "both" or false, got ${JSON.stringify(headers)}`,
      );
    }
    if (ipv6Subnet !== false && (!Number.isInteger(ipv6Subnet) || ipv6Subnet < 1 || ipv6Subnet > 128)) {
      throw new InvalidArgumentError(
        `ipv6Subnet: expected a prefix length from 1 to 128 or false, got ${String(ipv6Subnet)}`,
      );
    }
    const cost = options.cost;
    if (cost !== undefined && typeof cost !== "function" && !(Number.isFinite(cost) && cost > 0)) {
      throw new InvalidArgumentError(`cost: expected a positive number or a function, got ${String(cost)}`);
    }
    if (wait !== false) {
      try {
        // Validated now so a typo fails at startup; passed on as given (a bare number means seconds).
        parseDuration(wait);
        this.#wait = wait;
      } catch (error) {
        throw new InvalidArgumentError(`wait: ${(error as Error).message}`);
      }
    }
    this.#options = options;
    this.#trust = compileTrustProxy(options.trustProxy);
    this.#exempt = parseRanges(options.exempt ?? [], "exempt");
    this.#headers = headers;
    this.#ipv6Subnet = ipv6Subnet;
  }

  /** The headers mode in effect. */
  get headersMode(): HeadersMode {
    return this.#headers;
  }

  /** The client address of a request, as `trustProxy` determines it. */
  clientIp(view: RequestView): ParsedIp | undefined {
    return clientIp(view.socketAddress, view.header("x-forwarded-for"), this.#trust);
  }

  /**
   * Decides one request. `signal` aborts a wait (the client went away). A key that matches no limiter gives an
   * `error` verdict (a 500 without internals, not the framework's error page with a stack). Other errors (an
   * invalid key or cost, a throwing option function) are thrown for the framework to report.
   */
  async check(req: Req, view: RequestView, signal?: AbortSignal): Promise<Verdict> {
    try {
      return await this.#check(req, view, signal);
    } catch (error) {
      if (!isUnknownLimiterError(error)) throw error;
      return { action: "error", status: 500, body: unknownLimiterProblem(), error };
    }
  }

  async #check(req: Req, view: RequestView, signal?: AbortSignal): Promise<Verdict> {
    const options = this.#options;
    if (options.skip && (await options.skip(req))) return { action: "skip" };
    const ip = this.clientIp(view);
    if (ip && this.#exempt.some((range) => inRange(ip, range))) return { action: "skip" };

    const keys = await this.#keys(req, view, ip);
    const cost = typeof options.cost === "function" ? await options.cost(req) : (options.cost ?? 1);
    const rs = await (options.rs ?? getRateSync());
    // The full address (not the /64 group of `<ip>`), for the CIDR ranges of `[lists]`.
    const address = ip === undefined ? {} : { ip: formatIp(ip) };
    const denyStatus = (): 403 | 429 => rs.snapshot.lists?.denyStatus ?? 403;

    if (this.#wait === undefined) {
      const decision = await rs.tryAcquire(keys, { cost, ...address });
      return this.#verdict(decision, () => decision.lease?.release() ?? Promise.resolve(), denyStatus);
    }
    let lease: Lease;
    try {
      lease = await rs.acquire(keys, {
        cost,
        ...address,
        timeout: this.#wait,
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      // A refused wait carries its decision: the answer says what `tryAcquire` would have said.
      if ((isRateLimitExceededError(error) || isStoreError(error)) && error.decision !== undefined) {
        return this.#verdict(error.decision, noop, denyStatus);
      }
      throw error;
    }
    return this.#verdict(lease.decision, () => lease.release(), denyStatus);
  }

  #verdict(decision: Decision, release: () => Promise<void>, denyStatus: () => 403 | 429): Verdict {
    if (decision.allowed) {
      return { action: "allow", decision, headers: rateLimitHeaders(decision, this.#headers), release };
    }
    return {
      action: "refuse",
      decision,
      status: refusalStatus(decision, decision.list === "deny" ? denyStatus() : undefined),
      headers: refusalHeaders(decision, this.#headers),
      body: problemDetails(decision, decision.list === "deny" ? denyStatus() : undefined),
    };
  }

  async #keys(req: Req, view: RequestView, ip: ParsedIp | undefined): Promise<KeyInput> {
    const { key, user } = this.#options;
    if (typeof key === "function") return key(req);
    const templates = this.#templates!;
    const needsUser = user !== undefined && templates.some((t) => t.usesUser);
    const values: RequestValues = {
      ip: ip ? groupIp(ip, this.#ipv6Subnet) : UNKNOWN_IP,
      method: view.method.toUpperCase(),
      path: view.path,
      header: (name) => view.header(name),
      user: needsUser ? toText(await user(req)) : undefined,
    };
    const keys = fillKeys(templates, values);
    return keys.length === 1 ? keys[0]! : keys;
  }
}

const noop = (): Promise<void> => Promise.resolve();
