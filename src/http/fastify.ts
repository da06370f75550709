/**
 * @module
 * `rate-sync/fastify`: a Fastify (5) plugin that rate limits routes with rate-sync, globally and per route
 * through `config: { rateLimit: {...} }` on a route.
 *
 * @example
 * ```ts
 * import Fastify from "fastify";
 * import { rateLimit } from "rate-sync/fastify";
 *
 * const app = Fastify();
 * await app.register(rateLimit, { key: "api:<ip>" });                 // every route
 * app.post("/login", { config: { rateLimit: { key: "login:<ip>" } } }, login); // its own limit
 * app.get("/health", { config: { rateLimit: false } }, () => "ok");   // not limited
 * ```
 */

import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest } from "fastify";
import type { Decision } from "../core/types.ts";
import { InvalidArgumentError } from "../errors.ts";
import type { HeaderList } from "./headers.ts";
import type { RateLimitOptions } from "./options.ts";
import { PROBLEM_CONTENT_TYPE } from "./problem.ts";
import { RequestLimiter, type RequestView } from "./request-limiter.ts";

export { close } from "../core/default-instance.ts";
export type { TrustProxy } from "./client-ip.ts";
export type { HeadersMode } from "./headers.ts";
export type { Awaitable, KeyOption, RateLimitOptions } from "./options.ts";
export type { ProblemDetails, ServerProblemDetails } from "./problem.ts";

/** Per-route settings: any option, overriding the plugin's for that route. */
export interface FastifyRouteRateLimit extends Partial<RateLimitOptions<FastifyRequest>> {
  /**
   * Answers a refused request instead of the default problem details body. The rate limit headers and
   * `Retry-After` are already set on `reply`; `decision.degraded === "store-error"` tells a failing store
   * (default status 503) from a limit (429), and `decision.list === "deny"` a deny-listed client (403 or
   * `deny_status`). It must send the reply.
   * @example (request, reply, decision) => reply.code(429).send({ error: "slow down" })
   */
  readonly onLimited?: (request: FastifyRequest, reply: FastifyReply, decision: Decision) => unknown;
  /**
   * Which request hook decides: `"onRequest"` (before the body is parsed: cheapest) or `"preHandler"` (after
   * your own `onRequest`/`preHandler` hooks and validation, e.g. when `user(req)` needs authentication).
   * @default "onRequest"
   */
  readonly hook?: "onRequest" | "preHandler";
}

/** Options of the {@link rateLimit} plugin. */
export interface FastifyRateLimitOptions extends FastifyRouteRateLimit {
  /**
   * Limit every route with these options (routes opt out with `config: { rateLimit: false }`). With `false`,
   * only routes that have a `config.rateLimit` object are limited. Without a `key` here, only routes that
   * bring their own are limited.
   * @default true
   */
  readonly global?: boolean;
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** rate-sync settings of this route, or `false` to leave it unlimited. */
    rateLimit?: FastifyRouteRateLimit | false;
  }
  interface FastifyRequest {
    /** The rate-sync decision that admitted this request, when a limit applied. */
    rateLimit?: Decision;
  }
}

type HookName = "onRequest" | "preHandler";
type RateLimitHook = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
/** The parts of route options the plugin reads and extends. */
interface MutableRoute {
  config?: { rateLimit?: FastifyRouteRateLimit | false };
  onRequest?: unknown;
  preHandler?: unknown;
}

function setHeaders(reply: FastifyReply, headers: HeaderList): void {
  for (const [name, value] of headers) reply.header(name, value);
}

/** Adapts a Fastify request to the shared core. Internal: the core that reads it is not exported. */
function fastifyRequestView(request: FastifyRequest): RequestView {
  const query = request.url.indexOf("?");
  return {
    method: request.method,
    path: query === -1 ? request.url : request.url.slice(0, query),
    // The raw socket, not `request.ip`: `trustProxy` is this plugin's own setting (SPEC §6).
    socketAddress: request.raw.socket?.remoteAddress,
    header: (name) => {
      const value = request.headers[name];
      return Array.isArray(value) ? value.join(", ") : value;
    },
  };
}

function createHook(
  options: FastifyRouteRateLimit & { key: RateLimitOptions<FastifyRequest>["key"] },
): RateLimitHook {
  const limiter = new RequestLimiter<FastifyRequest>(options);
  const waits = options.wait !== undefined && options.wait !== false;
  const { onLimited } = options;
  return async function rateSyncLimit(request, reply) {
    let signal: AbortSignal | undefined;
    if (waits) {
      // A client that hangs up while waiting should not keep a place in the queue.
      const controller = new AbortController();
      reply.raw.once("close", () => {
        if (!reply.raw.writableFinished) controller.abort(new Error("the client closed the connection"));
      });
      signal = controller.signal;
    }
    const verdict = await limiter.check(request, fastifyRequestView(request), signal);
    if (verdict.action === "skip") return;
    if (verdict.action === "error") {
      return reply.code(verdict.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(verdict.body));
    }
    setHeaders(reply, verdict.headers);
    request.rateLimit = verdict.decision;
    if (verdict.action === "allow") {
      // "close" follows the end of the response, and also fires when the client goes away first.
      if (reply.raw.closed) void verdict.release();
      else reply.raw.once("close", () => void verdict.release());
      return;
    }
    if (onLimited) await onLimited(request, reply, verdict.decision);
    else reply.code(verdict.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(verdict.body));
    // Returning the reply tells Fastify the hook answered: the route handler does not run.
    return reply;
  };
}

const plugin: FastifyPluginCallback<FastifyRateLimitOptions> = (
  fastify: FastifyInstance,
  options: FastifyRateLimitOptions,
  done: (error?: Error) => void,
) => {
  const { global = true, ...base } = options;
  // Fastify passes its own registration options (prefix, logLevel…) along; they are no concern of ours.
  delete (base as { prefix?: unknown }).prefix;
  let globalHook: RateLimitHook | undefined;
  try {
    if (global && base.key !== undefined) globalHook = createHook({ ...base, key: base.key });
  } catch (error) {
    done(error as Error);
    return;
  }
  if (!fastify.hasRequestDecorator("rateLimit")) fastify.decorateRequest("rateLimit", undefined);

  fastify.addHook("onRoute", (routeOptions) => {
    const route = routeOptions as unknown as MutableRoute;
    const routeConfig = route.config?.rateLimit;
    if (routeConfig === false) return;
    let hook: RateLimitHook | undefined;
    let hookName: HookName = base.hook ?? "onRequest";
    if (routeConfig === undefined) {
      hook = globalHook;
    } else {
      const merged = { ...base, ...routeConfig };
      if (merged.key === undefined) {
        throw new InvalidArgumentError(
          `rate limit of route ${routeOptions.url}: no key (give one in the route's config.rateLimit or the plugin options)`,
        );
      }
      hook = createHook({ ...merged, key: merged.key });
      hookName = merged.hook ?? "onRequest";
    }
    if (!hook) return;
    // Appended after the route's own hooks of that kind, so `user(req)` can read what they set.
    const existing = route[hookName];
    route[hookName] =
      existing === undefined ? [hook] : Array.isArray(existing) ? [...existing, hook] : [existing, hook];
  });
  done();
};

// What `fastify-plugin` does: the hooks apply to the registering context (and so to every route registered
// after it), instead of being sealed inside the plugin's own encapsulated context.
Object.assign(plugin, {
  [Symbol.for("skip-override")]: true,
  [Symbol.for("fastify.display-name")]: "rate-sync",
  [Symbol.for("plugin-meta")]: { name: "rate-sync", fastify: ">=5" },
});

/**
 * The rate-sync Fastify plugin. Register it before the routes it should limit. Allowed requests get the rate
 * limit headers (the decision is on `request.rateLimit`); refused ones get 429 (503 for a failing store under
 * `on_store_error = "deny"`) with `Retry-After` and an `application/problem+json` body; a key that matches no
 * limiter (one a reload removed) gets a problem+json 500 without internals. A concurrency slot is
 * released when the response closes. Invalid options fail the registration (or the route's registration).
 *
 * @example
 * ```ts
 * await app.register(rateLimit, { key: "api:<ip>", trustProxy: 1 });
 * app.get("/search", { config: { rateLimit: { key: "search:<user>", user: (req) => req.headers["x-user"] as string } } }, search);
 * ```
 */
export const rateLimit: FastifyPluginCallback<FastifyRateLimitOptions> = plugin;
