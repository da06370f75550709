/**
 * @module
 * Options shared by the Express, Fastify and Hono adapters (SPEC §6). Each adapter adds its own `onLimited`,
 * typed for its framework.
 */

import type { KeyInput, RateSync } from "../core/rate-sync.ts";
import type { DurationInput } from "../core/types.ts";
import type { TrustProxy } from "./client-ip.ts";
import type { HeadersMode } from "./headers.ts";

/** A value, or a promise of it. */
export type Awaitable<T> = T | Promise<T>;

/**
 * What to limit a request by: a key or a template (`"api:<ip>"`), several (all must pass, as one composite
 * decision), or a function of the request returning literal keys.
 *
 * Placeholders: `<ip>` (client address; IPv6 grouped by `ipv6Subnet`), `<method>` (uppercase), `<path>` (the
 * URL path, without the query string), `<header:name>` (a request header), `<user>` (from the `user` option).
 * A template whose placeholder has no value for a request is left out while another template yields a key;
 * when none does, the first is used with the client IP in place of the missing values.
 */
export type KeyOption<Req> = string | readonly string[] | ((req: Req) => Awaitable<KeyInput>);

/** Options of every HTTP adapter; `Req` is the framework's request (Express `Request`, Fastify `FastifyRequest`, Hono `Context`). */
export interface RateLimitOptions<Req> {
  /**
   * The instance that decides.
   * @default the module's default instance (`getRateSync()`, loaded from the config search path on first use)
   */
  readonly rs?: RateSync | Promise<RateSync>;
  /**
   * What to limit by: see {@link KeyOption}. Required: a route is never limited by an accident of defaults.
   * @example "api:<ip>"
   * @example ["login:ip:<ip>", "login:user:<user>"]
   * @example (req) => `tenant:${req.params.tenant}`
   */
  readonly key: KeyOption<Req>;
  /**
   * Units a request consumes.
   * @default 1
   */
  readonly cost?: number | ((req: Req) => Awaitable<number>);
  /**
   * Which rate limit headers to send (`Retry-After` is always sent on 429 and 503).
   * @default "draft-10"
   */
  readonly headers?: HeadersMode;
  /** Returns true for requests that are not limited at all (no decision, no headers). */
  readonly skip?: (req: Req) => Awaitable<boolean>;
  /**
   * Client addresses or CIDR ranges that are never limited (no decision, no headers), matched against the
   * client IP as `trustProxy` determines it.
   * @example ["127.0.0.1", "10.0.0.0/8", "2001:db8::/32"]
   */
  readonly exempt?: readonly string[];
  /**
   * Proxies to believe `X-Forwarded-For` from: a hop count, or addresses/CIDR ranges (also `"loopback"`,
   * `"linklocal"`, `"uniquelocal"`). The client is the right-most entry that is not a trusted proxy.
   * @default 0 (the socket address; `X-Forwarded-For` ignored)
   */
  readonly trustProxy?: TrustProxy;
  /**
   * The authenticated user, for `<user>`. Return `undefined`, `null` or `""` for an anonymous request.
   * @example (req) => req.session?.userId
   */
  readonly user?: (req: Req) => Awaitable<string | number | null | undefined>;
  /**
   * Prefix length IPv6 clients are grouped by in `<ip>` (one host usually owns a whole /64); `128` or `false`
   * uses the full address.
   * @default 64
   */
  readonly ipv6Subnet?: number | false;
  /**
   * Wait for the limit instead of refusing at once: `acquire` with this timeout (`"2s"`, `"250ms"`, seconds
   * as a number). A request that cannot be admitted in time is refused with 429 at once, not after waiting.
   * @default false (decide now with `tryAcquire`)
   */
  readonly wait?: DurationInput | false;
}
