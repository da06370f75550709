/**
 * @module
 * `RateSyncGuard`: decides each HTTP request on the shared request limiter, with the options of its route
 * (`@RateLimit`/`@SkipRateLimit` on the handler, then its controller, then the module). It works on the
 * Express and the Fastify platform: it reads only what both requests have, and sets headers through what
 * each response offers.
 */

import type { CanActivate, ExecutionContext } from "@nestjs/common";
import { HttpException, Inject, Injectable } from "@nestjs/common";
import { Reflector } from "@nestjs/core";
import { RateSync } from "../../core/rate-sync.ts";
import type { HeaderList } from "../headers.ts";
import type { KeyOption, RateLimitOptions } from "../options.ts";
import { PROBLEM_CONTENT_TYPE } from "../problem.ts";
import { RequestLimiter, type RequestView } from "../request-limiter.ts";
import { RATE_LIMIT_METADATA, type RouteLimitMetadata, SKIP_RATE_LIMIT_METADATA } from "./decorators.ts";
import { RateLimitedException } from "./exception.ts";
import {
  type NestRateLimitOptions,
  RATE_SYNC_MODULE_OPTIONS,
  type RateSyncModuleOptions,
} from "./options.ts";

/** One request as the option functions see it: the platform's request and Nest's context. */
interface NestCall {
  readonly req: RequestLike;
  readonly context: ExecutionContext;
}

/** What the guard reads of the Express `Request` and the Fastify `FastifyRequest`. */
interface RequestLike {
  method: string;
  url: string;
  originalUrl?: string;
  headers: Record<string, string | string[] | undefined>;
  socket?: { remoteAddress?: string };
  raw?: { socket?: { remoteAddress?: string } };
  rateLimit?: unknown;
  [DECIDED]?: true;
}

/** The Node response under both platforms' responses (Express: the response itself; Fastify: `reply.raw`). */
interface RawResponse {
  readonly closed: boolean;
  readonly writableFinished: boolean;
  once(event: "close", listener: () => void): unknown;
  setHeader(name: string, value: string): unknown;
}

/** What the guard uses of the Express `Response` and the Fastify `FastifyReply`. */
type ResponseLike = RawResponse | { raw: RawResponse; header(name: string, value: string): unknown };

/** Marks a request already decided, so a guard applied twice (global and `@UseGuards`) decides once. */
const DECIDED: unique symbol = Symbol("rate-sync.decided");

/** The limiter of one route, and whether it waits for the limit (then a hang-up must abort the wait). */
interface RouteLimiter {
  readonly core: RequestLimiter<NestCall>;
  readonly waits: boolean;
}

/** A route that is not limited at all. */
const UNLIMITED = null;

type Merged = RouteLimitMetadata & Omit<NestRateLimitOptions<unknown>, "key">;

function rawResponse(res: ResponseLike): RawResponse {
  return "raw" in res && res.raw !== undefined ? res.raw : (res as RawResponse);
}

function setHeader(res: ResponseLike, name: string, value: string): void {
  // Fastify's reply keeps its own headers (written on send); Express's response is the Node response.
  if ("header" in res && "raw" in res && typeof res.header === "function") res.header(name, value);
  else (res as RawResponse).setHeader(name, value);
}

function setHeaders(res: ResponseLike, headers: HeaderList): void {
  for (const [name, value] of headers) setHeader(res, name, value);
}

function requestView(req: RequestLike): RequestView {
  const url = req.originalUrl ?? req.url;
  const query = url.indexOf("?");
  return {
    method: req.method,
    path: query === -1 ? url : url.slice(0, query),
    // The raw socket, not `req.ip`: `trustProxy` is rate-sync's own setting (as in every adapter).
    socketAddress: (req.raw?.socket ?? req.socket)?.remoteAddress,
    header: (name) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value.join(", ") : value;
    },
  };
}

/** The shared core's options for one route: Nest's `(req, context)` functions called with one `NestCall`. */
function limiterOptions(rs: RateSync, merged: Merged): RateLimitOptions<NestCall> {
  const { key, cost, wait, headers, skip, user, exempt, trustProxy, ipv6Subnet } = merged;
  return {
    rs,
    key: (typeof key === "function"
      ? (call: NestCall) => key(call.req, call.context)
      : key) as KeyOption<NestCall>,
    ...(cost === undefined
      ? {}
      : { cost: typeof cost === "function" ? (call: NestCall) => cost(call.req, call.context) : cost }),
    ...(wait === undefined ? {} : { wait }),
    ...(headers === undefined ? {} : { headers }),
    ...(skip === undefined ? {} : { skip: (call: NestCall) => skip(call.req, call.context) }),
    ...(user === undefined ? {} : { user: (call: NestCall) => user(call.req, call.context) }),
    ...(exempt === undefined ? {} : { exempt }),
    ...(trustProxy === undefined ? {} : { trustProxy }),
    ...(ipv6Subnet === undefined ? {} : { ipv6Subnet }),
  };
}

/**
 * The guard that rate limits HTTP requests. `RateSyncModule` registers it globally unless `guard: false`;
 * it can also be applied with `@UseGuards(RateSyncGuard)`. Allowed requests get the rate limit headers and
 * continue (the decision is on `req.rateLimit`); refused ones get a {@link RateLimitedException} (429, or
 * 503 for a failing store under `on_store_error = "deny"`) with `Retry-After` and an
 * `application/problem+json` body; a key that matches no limiter (one a reload removed) gets a
 * problem+json 500 without internals. A concurrency slot is released when the response closes.
 *
 * Contexts other than HTTP (WebSockets, microservices, GraphQL) pass unlimited; for GraphQL over HTTP,
 * extend the guard and override {@link RateSyncGuard.getRequestResponse}.
 */
export class RateSyncGuard implements CanActivate {
  readonly #options: RateSyncModuleOptions<unknown>;
  readonly #rs: RateSync;
  readonly #reflector: Reflector;
  /** Each route's limiter (or none), built on its first request: by controller, then by handler. */
  readonly #routes = new WeakMap<object, WeakMap<object, RouteLimiter | typeof UNLIMITED>>();

  constructor(options: RateSyncModuleOptions<unknown>, rs: RateSync, reflector: Reflector) {
    this.#options = options;
    this.#rs = rs;
    this.#reflector = reflector;
  }

  /** Decides the request. @throws RateLimitedException when it is refused. */
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const target = this.getRequestResponse(context);
    if (target === undefined) return true;
    const req = target.req as RequestLike;
    const res = target.res as ResponseLike;
    if (req[DECIDED]) return true;
    const limiter = this.#limiter(context);
    if (limiter === UNLIMITED) return true;
    req[DECIDED] = true;

    const raw = rawResponse(res);
    let signal: AbortSignal | undefined;
    if (limiter.waits) {
      // A client that hangs up while waiting should not keep a place in the queue.
      const controller = new AbortController();
      raw.once("close", () => {
        if (!raw.writableFinished) controller.abort(new Error("the client closed the connection"));
      });
      signal = controller.signal;
    }
    const verdict = await limiter.core.check({ req, context }, requestView(req), signal);
    if (verdict.action === "skip") return true;
    if (verdict.action === "error") {
      setHeader(res, "Content-Type", PROBLEM_CONTENT_TYPE);
      throw new HttpException(verdict.body, verdict.status, { cause: verdict.error });
    }
    setHeaders(res, verdict.headers);
    req.rateLimit = verdict.decision;
    if (verdict.action === "allow") {
      // "close" follows the end of the response, and also fires when the client goes away first.
      if (raw.closed) void verdict.release();
      else raw.once("close", () => void verdict.release());
      return true;
    }
    setHeader(res, "Content-Type", PROBLEM_CONTENT_TYPE);
    throw new RateLimitedException(verdict.body, verdict.decision, verdict.headers);
  }

  /**
   * The request and the response to limit, or undefined to let the call pass unlimited. The default reads
   * HTTP contexts only; a subclass can map another context (GraphQL's) to its HTTP request and response.
   */
  protected getRequestResponse(context: ExecutionContext): { req: unknown; res: unknown } | undefined {
    if (context.getType() !== "http") return undefined;
    const http = context.switchToHttp();
    return { req: http.getRequest(), res: http.getResponse() };
  }

  #limiter(context: ExecutionContext): RouteLimiter | typeof UNLIMITED {
    const controller = context.getClass();
    const handler = context.getHandler();
    let routes = this.#routes.get(controller);
    if (routes === undefined) {
      routes = new WeakMap();
      this.#routes.set(controller, routes);
    }
    let limiter = routes.get(handler);
    if (limiter === undefined) {
      const merged = this.#routeOptions(controller, handler);
      limiter =
        merged === UNLIMITED
          ? UNLIMITED
          : {
              core: new RequestLimiter(limiterOptions(this.#rs, merged)),
              waits: merged.wait !== undefined && merged.wait !== false,
            };
      routes.set(handler, limiter);
    }
    return limiter;
  }

  /** The options of a route: the nearest of handler and controller decides whether and how it is limited. */
  #routeOptions(controller: object, handler: object): Merged | typeof UNLIMITED {
    const get = <T>(key: string, target: object): T | undefined =>
      this.#reflector.get<T>(key, target as () => void);
    const methodSkip = get<boolean>(SKIP_RATE_LIMIT_METADATA, handler);
    const methodLimit = get<RouteLimitMetadata>(RATE_LIMIT_METADATA, handler);
    const classSkip = get<boolean>(SKIP_RATE_LIMIT_METADATA, controller);
    const classLimit = get<RouteLimitMetadata>(RATE_LIMIT_METADATA, controller);
    const { key: moduleKey, ...moduleOptions } = this.#options;
    const base = { ...moduleOptions, ...classLimit };
    if (methodSkip === true) return UNLIMITED;
    if (methodLimit !== undefined) return { ...base, ...methodLimit };
    if (methodSkip !== false && classSkip === true) return UNLIMITED;
    if (classLimit !== undefined) return { ...moduleOptions, ...classLimit };
    return moduleKey === undefined ? UNLIMITED : { ...moduleOptions, key: moduleKey };
  }
}

// Applied as calls, not written as `@Injectable()`: this file compiles without `experimentalDecorators`, and
// the dependencies are named explicitly because no build here emits `design:paramtypes`.
Injectable()(RateSyncGuard);
Inject(RATE_SYNC_MODULE_OPTIONS)(RateSyncGuard, undefined, 0);
Inject(RateSync)(RateSyncGuard, undefined, 1);
Inject(Reflector)(RateSyncGuard, undefined, 2);
