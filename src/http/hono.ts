/**
 * @module
 * `rate-sync/hono`: rate limiting middleware for Hono. It reads web-standard `Request` values only, so it runs
 * wherever Hono does (Node through `@hono/node-server`, Bun, Deno); elsewhere, say how to find the client's
 * address with `remoteAddress`.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { rateLimit } from "rate-sync/hono";
 *
 * const app = new Hono();
 * app.use("/api/*", rateLimit({ key: "api:<ip>" }));
 * ```
 */

import type { Context, MiddlewareHandler } from "hono";
import type { Decision } from "../core/types.ts";
import type { HeaderList } from "./headers.ts";
import type { RateLimitOptions } from "./options.ts";
import { PROBLEM_CONTENT_TYPE } from "./problem.ts";
import { RequestLimiter, type RequestView } from "./request-limiter.ts";

export { close } from "../core/default-instance.ts";
export type { TrustProxy } from "./client-ip.ts";
export type { HeadersMode } from "./headers.ts";
export type { Awaitable, KeyOption, RateLimitOptions } from "./options.ts";
export type { ProblemDetails, ServerProblemDetails } from "./problem.ts";

/** Context variables the middleware sets: `c.get("rateLimit")` is the decision that admitted the request. */
export interface RateLimitVariables {
  rateLimit?: Decision;
}

/** Options of {@link rateLimit}: the shared options, plus a Hono `onLimited` and `remoteAddress`. */
export interface HonoRateLimitOptions extends RateLimitOptions<Context> {
  /**
   * Answers a refused request instead of the default problem details body. The rate limit headers and
   * `Retry-After` are added to the Response it returns; `decision.degraded === "store-error"` tells a failing
   * store (default status 503) from a limit (429), and `decision.list === "deny"` a deny-listed client (403
   * or `deny_status`).
   * @example (c, decision) => c.json({ error: "slow down" }, 429)
   */
  readonly onLimited?: (c: Context, decision: Decision) => Response | Promise<Response>;
  /**
   * The TCP peer's address. Found by default on `@hono/node-server` (`env.incoming`), Bun (`env.requestIP`)
   * and `Deno.serve` (`env.remoteAddr`); other runtimes must say (e.g. Cloudflare:
   * `(c) => c.req.header("cf-connecting-ip")`). Without one, `<ip>` is `"unknown"`: one shared bucket.
   */
  readonly remoteAddress?: (c: Context) => string | undefined;
}

interface NodeEnv {
  incoming?: { socket?: { remoteAddress?: string } };
}
interface BunEnv {
  requestIP?: (request: Request) => { address?: string } | null;
}
interface DenoEnv {
  remoteAddr?: { hostname?: string };
}

/**
 * The peer address from the runtime's own `env`: `@hono/node-server`, Bun and `Deno.serve` (the default of
 * {@link HonoRateLimitOptions.remoteAddress}). Exported so a custom `remoteAddress` can fall back to it.
 */
export function defaultRemoteAddress(c: Context): string | undefined {
  const env: unknown = c.env;
  if (env === null || typeof env !== "object") return undefined;
  const node = (env as NodeEnv).incoming?.socket?.remoteAddress;
  if (node !== undefined) return node;
  const bun = (env as BunEnv).requestIP;
  if (typeof bun === "function") return bun.call(env, c.req.raw)?.address ?? undefined;
  return (env as DenoEnv).remoteAddr?.hostname;
}

/** Adapts a Hono context to the shared core. Internal: the core that reads it is not exported. */
function honoRequestView(c: Context, remoteAddress = defaultRemoteAddress): RequestView {
  return {
    method: c.req.method,
    path: c.req.path,
    socketAddress: remoteAddress(c),
    header: (name) => c.req.header(name),
  };
}

/** The response with `headers` set, copied first when its headers are immutable (a fetched Response). */
function withHeaders(response: Response, headers: HeaderList): Response {
  try {
    for (const [name, value] of headers) response.headers.set(name, value);
    return response;
  } catch {
    const copy = new Response(response.body, response);
    for (const [name, value] of headers) copy.headers.set(name, value);
    return copy;
  }
}

/**
 * Creates Hono middleware that decides every request it sees with rate-sync. Allowed requests get the rate
 * limit headers and continue (`c.get("rateLimit")` is the decision); refused ones get 429 (503 for a failing
 * store under `on_store_error = "deny"`) with `Retry-After` and an `application/problem+json` body (a key that
 * matches no limiter, one a reload removed: a problem+json 500 without internals). A
 * concurrency slot is released when the downstream handlers have returned (for a streamed body: once the
 * Response is built, not when the stream ends).
 *
 * @throws InvalidArgumentError at once for invalid options.
 * @example
 * ```ts
 * app.post("/login", rateLimit({ key: ["login:ip:<ip>", "login:user:<user>"], user: (c) => c.req.header("x-user") }));
 * ```
 */
export function rateLimit(options: HonoRateLimitOptions): MiddlewareHandler {
  const limiter = new RequestLimiter<Context>(options);
  const { onLimited, remoteAddress = defaultRemoteAddress } = options;

  return async function rateSyncLimit(c, next) {
    // The request's own signal aborts a wait when the client goes away (where the runtime supports it).
    const verdict = await limiter.check(c, honoRequestView(c, remoteAddress), c.req.raw.signal);
    if (verdict.action === "skip") return next();
    if (verdict.action === "error") {
      return new Response(JSON.stringify(verdict.body), {
        status: verdict.status,
        headers: [["Content-Type", PROBLEM_CONTENT_TYPE]],
      });
    }
    (c as Context<{ Variables: RateLimitVariables }>).set("rateLimit", verdict.decision);
    if (verdict.action === "allow") {
      try {
        await next();
      } finally {
        await verdict.release();
      }
      const response = withHeaders(c.res, verdict.headers);
      // Assigning `c.res` copies the response again; only needed when its headers were immutable.
      if (response !== c.res) c.res = response;
      return;
    }
    if (onLimited) return withHeaders(await onLimited(c, verdict.decision), verdict.headers);
    return new Response(JSON.stringify(verdict.body), {
      status: verdict.status,
      headers: [...verdict.headers, ["Content-Type", PROBLEM_CONTENT_TYPE]],
    });
  };
}
