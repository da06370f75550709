/**
 * @module
 * `rate-sync/express`: rate limiting middleware for Express (4 and 5) from a rate-sync config.
 *
 * @example
 * ```ts
 * import express from "express";
 * import { rateLimit } from "rate-sync/express";
 *
 * const app = express();
 * app.use("/api", rateLimit({ key: "api:<ip>" }));          // [limiters."api:<ip>"] in rate-sync.toml
 * app.post("/login", rateLimit({ key: ["login:ip:<ip>", "login:user:<user>"], user: (req) => req.body?.user }));
 * ```
 */

import type { IncomingHttpHeaders } from "node:http";
import type { NextFunction, Request, RequestHandler, Response } from "express";
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

/** Options of {@link rateLimit}: the shared options, plus an Express `onLimited`. */
export interface ExpressRateLimitOptions extends RateLimitOptions<Request> {
  /**
   * Answers a refused request instead of the default problem details body. The rate limit headers and
   * `Retry-After` are already set; `decision.degraded === "store-error"` tells a failing store (default
   * status 503) from a limit (429), and `decision.list === "deny"` a deny-listed client (403 or `deny_status`).
   * It must end the response.
   * @example (req, res, decision) => res.status(429).json({ error: "slow down", retryAfterMs: decision.retryAfterMs })
   */
  readonly onLimited?: (req: Request, res: Response, decision: Decision) => unknown;
}

function headerOf(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

function setHeaders(res: Response, headers: HeaderList): void {
  for (const [name, value] of headers) res.setHeader(name, value);
}

/** Adapts an Express request to the shared core. Internal: the core that reads it is not exported. */
function expressRequestView(req: Request): RequestView {
  const url = req.originalUrl ?? req.url;
  const query = url.indexOf("?");
  return {
    method: req.method,
    // `originalUrl`, not `req.path`: inside a mounted router `req.path` is relative to the mount point.
    path: query === -1 ? url : url.slice(0, query),
    socketAddress: req.socket?.remoteAddress,
    header: (name) => headerOf(req.headers, name),
  };
}

/**
 * Creates Express middleware that decides every request it sees with rate-sync. Allowed requests get the
 * rate limit headers and continue; the decision is in `res.locals.rateLimit`. Refused ones get 429 (503 for a
 * failing store under `on_store_error = "deny"`) with `Retry-After` and an `application/problem+json` body.
 * A request whose key matches no limiter (one a reload removed) gets a problem+json 500 without internals.
 * A concurrency slot (`max_concurrent`) is released when the response closes.
 *
 * @throws InvalidArgumentError at once for invalid options.
 * @example
 * ```ts
 * app.use(rateLimit({ key: "api:<ip>", trustProxy: ["loopback"], headers: "both" }));
 * app.get("/report", rateLimit({ key: "report:<user>", user: (req) => req.get("x-user-id"), wait: "2s" }), handler);
 * ```
 */
export function rateLimit(options: ExpressRateLimitOptions): RequestHandler {
  const limiter = new RequestLimiter<Request>(options);
  const waits = options.wait !== undefined && options.wait !== false;
  const { onLimited } = options;

  return async function rateSyncLimit(req: Request, res: Response, next: NextFunction): Promise<void> {
    try {
      let signal: AbortSignal | undefined;
      if (waits) {
        // A client that hangs up while waiting should not keep a place in the queue.
        const controller = new AbortController();
        res.once("close", () => {
          if (!res.writableFinished) controller.abort(new Error("the client closed the connection"));
        });
        signal = controller.signal;
      }
      const verdict = await limiter.check(req, expressRequestView(req), signal);
      if (verdict.action === "skip") return next();
      if (verdict.action === "error") {
        res.statusCode = verdict.status;
        res.setHeader("Content-Type", PROBLEM_CONTENT_TYPE);
        res.end(JSON.stringify(verdict.body));
        return;
      }
      setHeaders(res, verdict.headers);
      res.locals.rateLimit = verdict.decision;
      if (verdict.action === "allow") {
        // "close" follows "finish", and also fires when the client goes away first: the slot is freed either way.
        if (res.closed) void verdict.release();
        else res.once("close", () => void verdict.release());
        return next();
      }
      if (onLimited) {
        await onLimited(req, res, verdict.decision);
        return;
      }
      res.statusCode = verdict.status;
      res.setHeader("Content-Type", PROBLEM_CONTENT_TYPE);
      res.end(JSON.stringify(verdict.body));
    } catch (error) {
      next(error);
    }
  };
}
