/**
 * @module
 * `rate-sync/koa`: rate limiting middleware for Koa (2 and 3) from a rate-sync config.
 *
 * @example
 * ```ts
 * import Koa from "koa";
 * import { rateLimit } from "rate-sync/koa";
 *
 * const app = new Koa();
 * app.use(rateLimit({ key: "api:<ip>" }));                  // [limiters."api:<ip>"] in rate-sync.toml
 * ```
 */

import type { IncomingHttpHeaders } from "node:http";
import type { Context, Middleware } from "koa";
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

/** What the middleware adds to `ctx.state`: the decision that admitted the request. */
export interface RateLimitState {
  rateLimit?: Decision;
}

/** Options of {@link rateLimit}: the shared options, plus a Koa `onLimited`. */
export interface KoaRateLimitOptions extends RateLimitOptions<Context> {
  /**
   * Answers a refused request instead of the default problem details body, by setting `ctx.status` and
   * `ctx.body`. The rate limit headers and `Retry-After` are already set; `decision.degraded === "store-error"`
   * tells a failing store (default status 503) from a limit (429).
   * @example (ctx, decision) => { ctx.status = 429; ctx.body = { error: "slow down", retryAfterMs: decision.retryAfterMs }; }
   */
  readonly onLimited?: (ctx: Context, decision: Decision) => unknown;
}

function headerOf(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

function setHeaders(ctx: Context, headers: HeaderList): void {
  for (const [name, value] of headers) ctx.set(name, value);
}

/** Answers with a problem details body (a refusal, or the 500 of a key that matches no limiter). */
function sendProblem(ctx: Context, status: number, body: object): void {
  ctx.status = status;
  // Set before the body: Koa would otherwise type a string body as text/plain.
  ctx.set("Content-Type", PROBLEM_CONTENT_TYPE);
  ctx.body = JSON.stringify(body);
}

/** Adapts a Koa context to the shared core. Internal: the core that reads it is not exported. */
function koaRequestView(ctx: Context): RequestView {
  const url = ctx.originalUrl ?? ctx.url;
  const query = url.indexOf("?");
  return {
    method: ctx.method,
    // `originalUrl`, not `ctx.path`: under a mounted app (koa-mount) `ctx.path` is relative to the mount point.
    path: query === -1 ? url : url.slice(0, query),
    // The raw socket, not `ctx.ip`: `trustProxy` is this middleware's own setting, not `app.proxy` (SPEC §6).
    socketAddress: ctx.req.socket?.remoteAddress,
    header: (name) => headerOf(ctx.req.headers, name),
  };
}

/**
 * Creates Koa middleware that decides every request it sees with rate-sync. Allowed requests get the rate
 * limit headers and continue; the decision is in `ctx.state.rateLimit`. Refused ones get 429 (503 for a
 * failing store under `on_store_error = "deny"`) with `Retry-After` and an `application/problem+json` body,
 * and the downstream middleware does not run. A request whose key matches no limiter (one a reload removed)
 * gets a problem+json 500 without internals. A concurrency slot (`max_concurrent`) is released when the
 * response closes (after a streamed body has been sent, or when the client goes away).
 *
 * Headers are set before the downstream middleware runs; an error it throws is answered by Koa's error
 * handling, which clears them.
 *
 * @throws InvalidArgumentError at once for invalid options.
 * @example
 * ```ts
 * app.use(rateLimit({ key: "api:<ip>", trustProxy: ["loopback"], headers: "both" }));
 * router.post("/login", rateLimit({ key: ["login:ip:<ip>", "login:user:<user>"], user: (ctx) => ctx.get("x-user") }), login);
 * ```
 */
export function rateLimit(options: KoaRateLimitOptions): Middleware<RateLimitState> {
  const limiter = new RequestLimiter<Context>(options);
  const waits = options.wait !== undefined && options.wait !== false;
  const { onLimited } = options;

  return async function rateSyncLimit(ctx, next) {
    // Koa's `Middleware<RateLimitState>` context is a `Context` with a typed `state`.
    const context = ctx as unknown as Context;
    let signal: AbortSignal | undefined;
    if (waits) {
      // A client that hangs up while waiting should not keep a place in the queue.
      const controller = new AbortController();
      ctx.res.once("close", () => {
        if (!ctx.res.writableFinished) controller.abort(new Error("the client closed the connection"));
      });
      signal = controller.signal;
    }
    const verdict = await limiter.check(context, koaRequestView(context), signal);
    if (verdict.action === "skip") return next();
    if (verdict.action === "error") return sendProblem(context, verdict.status, verdict.body);
    setHeaders(context, verdict.headers);
    ctx.state.rateLimit = verdict.decision;
    if (verdict.action === "allow") {
      // Koa sends the body after the middleware returns: "close" comes once it is sent (a stream included),
      // and also when the client goes away first, so the slot is freed either way.
      if (ctx.res.closed) void verdict.release();
      else ctx.res.once("close", () => void verdict.release());
      return next();
    }
    if (onLimited) {
      await onLimited(context, verdict.decision);
      return;
    }
    sendProblem(context, verdict.status, verdict.body);
  };
}
