/**
 * @module
 * `@RateLimit(key, options)`, `@SkipRateLimit()` and `@InjectRateSync()`. The first two only store metadata
 * (read by the guard through Nest's `Reflector`); `@RateLimit` checks its options at once, so a typo in a
 * template fails when the class is defined, not on the first request.
 */

import { type CustomDecorator, Inject, SetMetadata } from "@nestjs/common";
import { RateSync } from "../../core/rate-sync.ts";
import { InvalidArgumentError } from "../../errors.ts";
import { RequestLimiter } from "../request-limiter.ts";
import type { NestHttpRequest, NestKeyOption, RouteRateLimitOptions } from "./options.ts";

/** Metadata key of `@RateLimit`: the route's {@link RouteLimitMetadata}. */
export const RATE_LIMIT_METADATA = "rate-sync:limit";
/** Metadata key of `@SkipRateLimit`: `true` (skip) or `false` (limit after all, inside a skipped class). */
export const SKIP_RATE_LIMIT_METADATA = "rate-sync:skip";

/** What `@RateLimit` stores: the key and the options that were given (absent ones are not there). */
export interface RouteLimitMetadata extends RouteRateLimitOptions<unknown> {
  readonly key: NestKeyOption<unknown>;
}

/**
 * Limits a route, or every route of a controller, by `key`. On a method it overrides the controller's
 * `@RateLimit` (its key, and each option it gives) and a controller's `@SkipRateLimit()`; options it does
 * not give come from the controller's `@RateLimit`, then from the module.
 *
 * @param key - A key or template, several (one composite decision: all must pass), or
 *   `(req, context) => key | key[]`.
 * @throws InvalidArgumentError at once for an invalid key, cost, wait or headers option.
 * @example
 * ```ts
 * @Post("login")
 * @RateLimit(["login:ip:<ip>", "login:user:<user>"])
 * login() {}
 *
 * @Get("report")
 * @RateLimit("report:<user>", { cost: 5, wait: "2s" })
 * report() {}
 * ```
 */
export function RateLimit<Req = NestHttpRequest>(
  key: NestKeyOption<Req>,
  options: RouteRateLimitOptions<Req> = {},
): CustomDecorator<typeof RATE_LIMIT_METADATA> {
  if (options === null || typeof options !== "object") {
    throw new InvalidArgumentError(`@RateLimit: expected an options object, got ${String(options)}`);
  }
  const metadata: { -readonly [K in keyof RouteLimitMetadata]: RouteLimitMetadata[K] } = {
    key: key as NestKeyOption<unknown>,
  };
  // Only the options given: an absent one must not hide the controller's or the module's value when merged.
  if (options.cost !== undefined) metadata.cost = options.cost as NonNullable<RouteLimitMetadata["cost"]>;
  if (options.wait !== undefined) metadata.wait = options.wait;
  if (options.headers !== undefined) metadata.headers = options.headers;
  try {
    // The shared core validates the options (it touches no instance when built): the same messages as
    // every adapter's.
    new RequestLimiter({
      key: typeof key === "function" ? () => "" : key,
      ...(typeof metadata.cost === "number" ? { cost: metadata.cost } : {}),
      ...(metadata.wait === undefined ? {} : { wait: metadata.wait }),
      ...(metadata.headers === undefined ? {} : { headers: metadata.headers }),
    });
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw new InvalidArgumentError(`@RateLimit: ${error.message}`);
    throw error;
  }
  return SetMetadata(RATE_LIMIT_METADATA, Object.freeze(metadata));
}

/**
 * Leaves a route, or every route of a controller, unlimited: no decision, no headers. On a method,
 * `@SkipRateLimit(false)` limits that route after all inside a skipped controller (by its own
 * `@RateLimit`, else by the module's `key`).
 * @example
 * ```ts
 * @Get("health")
 * @SkipRateLimit()
 * health() { return "up"; }
 * ```
 */
export function SkipRateLimit(skip = true): CustomDecorator<typeof SKIP_RATE_LIMIT_METADATA> {
  if (typeof skip !== "boolean") {
    throw new InvalidArgumentError(`@SkipRateLimit: expected true or false, got ${String(skip)}`);
  }
  return SetMetadata(SKIP_RATE_LIMIT_METADATA, skip);
}

/**
 * Injects the module's `RateSync` instance. The same as `@Inject(RateSync)`; needed where the type alone
 * cannot say it (a build without `emitDecoratorMetadata`, such as esbuild, tsx or Vite).
 * @example
 * ```ts
 * constructor(@InjectRateSync() private readonly rs: RateSync) {}
 * ```
 */
export function InjectRateSync(): PropertyDecorator & ParameterDecorator {
  return Inject(RateSync);
}
