/**
 * @module
 * Options of the NestJS module and of the `@RateLimit` decorator, and the injection tokens. The functions of
 * the options get the platform's request (Express `Request` or Fastify `FastifyRequest`) and Nest's
 * `ExecutionContext`, so they can read the handler, the class or anything a previous guard put on the request.
 */

import type { IncomingHttpHeaders } from "node:http";
import type {
  ExecutionContext,
  InjectionToken,
  ModuleMetadata,
  OptionalFactoryDependency,
} from "@nestjs/common";
import type { KeyInput, RateSync } from "../../core/rate-sync.ts";
import type { DurationInput, FromFileOptions } from "../../core/types.ts";
import type { TrustProxy } from "../client-ip.ts";
import type { HeadersMode } from "../headers.ts";
import type { Awaitable } from "../options.ts";

/**
 * What the guard reads of a request on either platform: the Express `Request` and the Fastify
 * `FastifyRequest` both have these. Options functions can name their platform's type instead
 * (`user: (req: Request) => req.user?.id`).
 */
export interface NestHttpRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

/**
 * What to limit a request by: a key or a template (`"api:<ip>"`), several (all must pass, as one composite
 * decision), or a function of the request and the execution context returning literal keys. Placeholders
 * as in every adapter: `<ip>`, `<method>`, `<path>`, `<header:name>`, `<user>`.
 */
export type NestKeyOption<Req = NestHttpRequest> =
  | string
  | readonly string[]
  | ((req: Req, context: ExecutionContext) => Awaitable<KeyInput>);

/** Units a request consumes: a number, or a function of the request. */
export type NestCostOption<Req = NestHttpRequest> =
  | number
  | ((req: Req, context: ExecutionContext) => Awaitable<number>);

/** What `@RateLimit(key, options)` may set for a controller or a route, overriding the module's options. */
export interface RouteRateLimitOptions<Req = NestHttpRequest> {
  /**
   * Units a request consumes.
   * @default the module's `cost`, else 1
   */
  readonly cost?: NestCostOption<Req>;
  /**
   * Wait up to this long for the limit instead of refusing at once (`"2s"`, seconds as a number); `false`
   * decides at once.
   * @default the module's `wait`, else false
   */
  readonly wait?: DurationInput | false;
  /**
   * Which rate limit headers to send for this route.
   * @default the module's `headers`, else "draft-10"
   */
  readonly headers?: HeadersMode;
}

/** How requests are limited: the shared adapter options, as the module takes them. */
export interface NestRateLimitOptions<Req = NestHttpRequest> extends RouteRateLimitOptions<Req> {
  /**
   * The key of every route that has no `@RateLimit` of its own. Without it, only routes (or controllers)
   * with `@RateLimit` are limited.
   * @example "api:<ip>"
   */
  readonly key?: NestKeyOption<Req>;
  /**
   * Returns true for requests that are not limited at all (no decision, no headers): the place for what
   * `@nestjs/throttler` calls `skipIf`.
   * @example (req, context) => process.env.NODE_ENV === "test"
   */
  readonly skip?: (req: Req, context: ExecutionContext) => Awaitable<boolean>;
  /**
   * The authenticated user, for `<user>`: the guard runs after the guards registered before it, so what an
   * authentication guard put on the request is there. `undefined`, `null` or `""`: anonymous.
   * @example (req) => req.user?.id
   */
  readonly user?: (req: Req, context: ExecutionContext) => Awaitable<string | number | null | undefined>;
  /**
   * Client addresses or CIDR ranges never limited (no decision, no headers).
   * @example ["127.0.0.1", "10.0.0.0/8"]
   */
  readonly exempt?: readonly string[];
  /**
   * Proxies to believe `X-Forwarded-For` from: a hop count or addresses/CIDR ranges (Nest's and the
   * platform's own trust-proxy settings are not used).
   * @default 0
   */
  readonly trustProxy?: TrustProxy;
  /**
   * Prefix length IPv6 clients are grouped by in `<ip>`; `128` or `false` keeps full addresses.
   * @default 64
   */
  readonly ipv6Subnet?: number | false;
}

/**
 * Options of `RateSyncModule.forRoot`: where the instance comes from, and how requests are limited.
 * The instance is, in this order: `rs` (yours: the module does not close it), `config` (an object of the
 * TOML file's shape), or `file` (a TOML file; the config search path when omitted). The module closes the
 * instance it made when the application shuts down.
 */
export interface RateSyncModuleOptions<Req = NestHttpRequest>
  extends NestRateLimitOptions<Req>,
    Omit<FromFileOptions, "watch"> {
  /** An instance you made and close yourself. */
  readonly rs?: RateSync;
  /** The config as an object of the TOML file's shape, validated like the file. */
  readonly config?: unknown;
  /**
   * The TOML file to load.
   * @default the search path: `RATE_SYNC_CONFIG`, `./rate-sync.toml`, `./config/rate-sync.toml`
   */
  readonly file?: string;
  /**
   * Hot-reload the file when it changes (needs a file). Limits change without a restart; a broken edit is
   * refused and the running config kept.
   * @default false
   */
  readonly watch?: boolean;
}

/** What `forRoot` and `forRootAsync` take beside the options: how the module is registered. */
export interface RateSyncModuleRegistration {
  /**
   * Register {@link RateSyncGuard} as a global guard (`APP_GUARD`). With `false`, apply it yourself:
   * `@UseGuards(RateSyncGuard)` or `app.useGlobalGuards(app.get(RateSyncGuard))`.
   * @default true
   */
  readonly guard?: boolean;
  /**
   * Make the module global, so `RateSync` and `RateSyncGuard` can be injected in every module.
   * @default true
   */
  readonly global?: boolean;
}

/** Options of `RateSyncModule.forRootAsync`: the module options from a factory with injected dependencies. */
export interface RateSyncModuleAsyncOptions<Req = NestHttpRequest>
  extends RateSyncModuleRegistration,
    Pick<ModuleMetadata, "imports"> {
  /** Builds the module options (may be async). */
  readonly useFactory: (...args: never[]) => Awaitable<RateSyncModuleOptions<Req>>;
  /** Providers to pass to `useFactory`, in order. */
  readonly inject?: (InjectionToken | OptionalFactoryDependency)[];
}

/** Injection token of the module options (after `forRootAsync`'s factory has run). */
export const RATE_SYNC_MODULE_OPTIONS: unique symbol = Symbol.for("rate-sync.nestjs.options");
