/**
 * @module
 * `rate-sync/nestjs`: a NestJS module, guard and decorators that rate limit HTTP routes with rate-sync, on
 * the Express and the Fastify platform.
 *
 * @example
 * ```ts
 * import { Controller, Get, Module, Post } from "@nestjs/common";
 * import { RateLimit, RateSyncModule, SkipRateLimit } from "rate-sync/nestjs";
 *
 * @Controller()
 * class ApiController {
 *   @Get("items") items() { return []; }                     // the module's key: api:<ip>
 *   @Post("login") @RateLimit("login:<ip>") login() {}        // its own limit
 *   @Get("health") @SkipRateLimit() health() { return "up"; } // not limited
 * }
 *
 * @Module({ imports: [RateSyncModule.forRoot({ file: "rate-sync.toml", watch: true, key: "api:<ip>" })], controllers: [ApiController] })
 * export class AppModule {}
 * ```
 */

export type { TrustProxy } from "../client-ip.ts";
export type { HeadersMode } from "../headers.ts";
export type { Awaitable } from "../options.ts";
export type { ProblemDetails, ServerProblemDetails } from "../problem.ts";
export { InjectRateSync, RateLimit, SkipRateLimit } from "./decorators.ts";
export { RateLimitedException } from "./exception.ts";
export { RateSyncGuard } from "./guard.ts";
export { RateSyncModule } from "./module.ts";
export {
  type NestCostOption,
  type NestHttpRequest,
  type NestKeyOption,
  type NestRateLimitOptions,
  RATE_SYNC_MODULE_OPTIONS,
  type RateSyncModuleAsyncOptions,
  type RateSyncModuleOptions,
  type RateSyncModuleRegistration,
  type RouteRateLimitOptions,
} from "./options.ts";
