/**
 * @module
 * The exception the guard throws for a refused request. Thrown, not written: Nest's exception layer answers
 * it (the default filter sends the problem body with the status), so an exception filter of the
 * application's own can answer differently, on either platform.
 */

import { HttpException } from "@nestjs/common";
import type { Decision } from "../../core/types.ts";
import type { HeaderList } from "../headers.ts";
import type { ProblemDetails } from "../problem.ts";

/**
 * A request refused by rate-sync: status 429, or 503 for a failing store under `on_store_error = "deny"`.
 * `getResponse()` is the `application/problem+json` body. When it is thrown, the rate limit headers,
 * `Retry-After` and the problem `Content-Type` are already set on the response.
 *
 * @example
 * ```ts
 * @Catch(RateLimitedException)
 * class SlowDown implements ExceptionFilter {
 *   constructor(private readonly host: HttpAdapterHost) {}
 *   catch(error: RateLimitedException, args: ArgumentsHost) {
 *     const response = args.switchToHttp().getResponse();
 *     this.host.httpAdapter.reply(response, { error: "slow down", retryAfterMs: error.decision.retryAfterMs }, 429);
 *   }
 * }
 * ```
 */
export class RateLimitedException extends HttpException {
  /** The decision that refused the request. */
  readonly decision: Decision;
  /** The headers set on the response: the rate limit headers and `Retry-After`. */
  readonly headers: Readonly<HeaderList>;

  constructor(body: ProblemDetails, decision: Decision, headers: HeaderList) {
    super(body, body.status);
    this.name = "RateLimitedException";
    this.decision = decision;
    this.headers = headers;
  }

  /** The problem details body. */
  override getResponse(): ProblemDetails {
    return super.getResponse() as ProblemDetails;
  }
}
