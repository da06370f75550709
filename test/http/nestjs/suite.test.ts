/**
 * The NestJS guard in a real Nest application, on the Express and on the Fastify platform: the behaviour
 * suite every HTTP adapter passes (test/http/harness.ts), on the memory store and on Redis, with the
 * scenario's options given to `RateSyncModule.forRoot`.
 */

import {
  All,
  type ArgumentsHost,
  Catch,
  Controller,
  type ExceptionFilter,
  Headers,
  HttpCode,
  Inject,
} from "@nestjs/common";
import { APP_FILTER, HttpAdapterHost } from "@nestjs/core";
import { RateLimitedException, RateSyncModule } from "../../../src/http/nestjs/index.ts";
import { requireRedis } from "../../helpers/stores.ts";
import { type AdapterHarness, defineAdapterSuite, holdMs } from "../harness.ts";
import { PLATFORMS, type Platform, startNest } from "./app.ts";

/** Every route of the suite answers `ok` after `x-hold-ms` milliseconds. */
@Controller()
class SuiteController {
  @All(["x", "login"])
  @HttpCode(200)
  async any(@Headers("x-hold-ms") hold?: string): Promise<string> {
    await new Promise((resolve) => setTimeout(resolve, holdMs(hold)));
    return "ok";
  }
}

/** The scenario's `customOnLimited`: Nest's way to answer a refusal differently is an exception filter. */
@Catch(RateLimitedException)
class TeapotFilter implements ExceptionFilter {
  constructor(@Inject(HttpAdapterHost) private readonly host: HttpAdapterHost) {}

  catch(error: RateLimitedException, args: ArgumentsHost): void {
    const response = args.switchToHttp().getResponse();
    const adapter = this.host.httpAdapter;
    adapter.setHeader(response, "Content-Type", "application/json");
    adapter.reply(response, { custom: true, policy: error.decision.policy.name }, 418);
  }
}

function header(req: { headers: Record<string, string | string[] | undefined> }, name: string) {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function harness(platform: Platform): AdapterHarness {
  return {
    name: `nestjs (${platform})`,
    async start(scenario) {
      const running = await startNest(platform, {
        imports: [
          RateSyncModule.forRoot({
            rs: scenario.rs,
            key: scenario.key,
            ...(scenario.headers === undefined ? {} : { headers: scenario.headers }),
            ...(scenario.exempt ? { exempt: scenario.exempt } : {}),
            ...(scenario.trustProxy === undefined ? {} : { trustProxy: scenario.trustProxy }),
            ...(scenario.ipv6Subnet === undefined ? {} : { ipv6Subnet: scenario.ipv6Subnet }),
            ...(scenario.wait ? { wait: scenario.wait } : {}),
            ...(scenario.costFromHeader ? { cost: (req) => Number(header(req, "x-cost") ?? 1) } : {}),
            ...(scenario.skipFromHeader ? { skip: (req) => header(req, "x-skip") === "1" } : {}),
            ...(scenario.userFromHeader ? { user: (req) => header(req, "x-user") } : {}),
          }),
        ],
        controllers: [SuiteController],
        providers: scenario.customOnLimited ? [{ provide: APP_FILTER, useClass: TeapotFilter }] : [],
      });
      return running;
    },
  };
}

const redis = await requireRedis();
for (const platform of PLATFORMS) defineAdapterSuite(harness(platform), redis);
