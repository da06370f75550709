/**
 * @module
 * `RateSyncModule`: provides the `RateSync` instance (injectable by its class), the module options and
 * `RateSyncGuard` (global by default), and closes the instance it made when the application shuts down.
 */

import type { DynamicModule, OnApplicationShutdown, Provider } from "@nestjs/common";
import { Inject, Injectable, Module } from "@nestjs/common";
import { APP_GUARD } from "@nestjs/core";
import { RateSync } from "../../core/rate-sync.ts";
import type { RateSyncOptions } from "../../core/types.ts";
import { InvalidArgumentError } from "../../errors.ts";
import { RequestLimiter } from "../request-limiter.ts";
import { RateSyncGuard } from "./guard.ts";
import {
  type NestHttpRequest,
  RATE_SYNC_MODULE_OPTIONS,
  type RateSyncModuleAsyncOptions,
  type RateSyncModuleOptions,
  type RateSyncModuleRegistration,
} from "./options.ts";

/**
 * Checks the module options, so a mistake fails the application's start with a message naming it.
 * @throws InvalidArgumentError
 */
export function checkModuleOptions<Req>(options: RateSyncModuleOptions<Req>): RateSyncModuleOptions<Req> {
  const fail = (message: string): never => {
    throw new InvalidArgumentError(`RateSyncModule: ${message}`);
  };
  if (options === null || typeof options !== "object") {
    fail(`expected an options object, got ${String(options)}`);
  }
  const sources = (["rs", "config", "file"] as const).filter((name) => options[name] !== undefined);
  if (sources.length > 1) fail(`give one of rs, config or file, not ${sources.join(" and ")}`);
  if (options.rs !== undefined && !(options.rs instanceof RateSync)) {
    fail("rs: expected a RateSync instance (from RateSync.fromFile, fromConfig or fromToml)");
  }
  if (options.file !== undefined && (typeof options.file !== "string" || options.file === "")) {
    fail(`file: expected a path, got ${JSON.stringify(options.file)}`);
  }
  if (options.watch && sources[0] !== undefined && sources[0] !== "file") {
    fail(`watch: only a config file can be watched, and the instance comes from ${sources[0]}`);
  }
  const { key, cost, wait, headers, exempt, trustProxy, ipv6Subnet } = options;
  try {
    // The shared core validates the limit options; it touches no instance when built.
    new RequestLimiter({
      key: key === undefined || typeof key === "function" ? "validate" : key,
      ...(typeof cost === "number" ? { cost } : {}),
      ...(wait === undefined ? {} : { wait }),
      ...(headers === undefined ? {} : { headers }),
      ...(exempt === undefined ? {} : { exempt }),
      ...(trustProxy === undefined ? {} : { trustProxy }),
      ...(ipv6Subnet === undefined ? {} : { ipv6Subnet }),
    });
  } catch (error) {
    if (error instanceof InvalidArgumentError) fail(error.message);
    throw error;
  }
  for (const name of ["skip", "user"] as const) {
    if (options[name] !== undefined && typeof options[name] !== "function")
      fail(`${name}: expected a function`);
  }
  return options;
}

/** The instance the options ask for: `rs` as given, else built from `config`, else loaded from `file`. */
async function createInstance(options: RateSyncModuleOptions<unknown>): Promise<RateSync> {
  if (options.rs !== undefined) return options.rs;
  const { stores, env, logger, quiet } = options;
  const instanceOptions: RateSyncOptions = {
    ...(stores === undefined ? {} : { stores }),
    ...(env === undefined ? {} : { env }),
    ...(logger === undefined ? {} : { logger }),
    ...(quiet === undefined ? {} : { quiet }),
  };
  if (options.config !== undefined) return RateSync.fromConfig(options.config, instanceOptions);
  return RateSync.fromFile(options.file, {
    ...instanceOptions,
    ...(options.watch === undefined ? {} : { watch: options.watch }),
    ...(options.debounceMs === undefined ? {} : { debounceMs: options.debounceMs }),
  });
}

/** Closes the instance the module made (not one given as `rs`) once the HTTP server has stopped. */
class RateSyncShutdown implements OnApplicationShutdown {
  readonly #options: RateSyncModuleOptions<unknown>;
  readonly #rs: RateSync;

  constructor(options: RateSyncModuleOptions<unknown>, rs: RateSync) {
    this.#options = options;
    this.#rs = rs;
  }

  /** Called by Nest on `app.close()` (and on a signal, with `enableShutdownHooks()`). */
  async onApplicationShutdown(): Promise<void> {
    if (this.#options.rs === undefined) await this.#rs.close();
  }
}

// Applied as calls: these files compile without `experimentalDecorators` (see guard.ts).
Injectable()(RateSyncShutdown);
Inject(RATE_SYNC_MODULE_OPTIONS)(RateSyncShutdown, undefined, 0);
Inject(RateSync)(RateSyncShutdown, undefined, 1);

/**
 * The rate-sync module. Import it once, in the root module:
 *
 * @example
 * ```ts
 * @Module({
 *   imports: [RateSyncModule.forRoot({ file: "rate-sync.toml", watch: true, key: "api:<ip>" })],
 *   controllers: [ApiController],
 * })
 * export class AppModule {}
 * ```
 */
// biome-ignore lint/complexity/noStaticOnlyClass: Nest's dynamic modules are classes with static forRoot methods.
export class RateSyncModule {
  /**
   * The module with these options. `RateSync` is injectable (by its class) and `RateSyncGuard` is global
   * unless `guard: false`.
   * @throws InvalidArgumentError at once for invalid options.
   */
  static forRoot<Req = NestHttpRequest>(
    options: RateSyncModuleOptions<Req> & RateSyncModuleRegistration = {},
  ): DynamicModule {
    const { guard, global, ...moduleOptions } = options;
    return build(
      { provide: RATE_SYNC_MODULE_OPTIONS, useValue: checkModuleOptions(moduleOptions) },
      { ...(guard === undefined ? {} : { guard }), ...(global === undefined ? {} : { global }) },
    );
  }

  /**
   * The module with options from a factory, which may inject providers of the modules in `imports`
   * (a `ConfigService`, say).
   * @example
   * ```ts
   * RateSyncModule.forRootAsync({
   *   imports: [ConfigModule],
   *   inject: [ConfigService],
   *   useFactory: (config: ConfigService) => ({ file: config.get("RATE_SYNC_FILE"), key: "api:<ip>" }),
   * })
   * ```
   */
  static forRootAsync<Req = NestHttpRequest>(options: RateSyncModuleAsyncOptions<Req>): DynamicModule {
    if (options === null || typeof options !== "object" || typeof options.useFactory !== "function") {
      throw new InvalidArgumentError(
        "RateSyncModule.forRootAsync: expected { useFactory, inject?, imports? }",
      );
    }
    const { useFactory, inject = [], imports = [], guard, global } = options;
    const factory = useFactory as (...args: unknown[]) => Promise<RateSyncModuleOptions<Req>>;
    return build(
      {
        provide: RATE_SYNC_MODULE_OPTIONS,
        useFactory: async (...args: unknown[]) => checkModuleOptions(await factory(...args)),
        inject,
      },
      { ...(guard === undefined ? {} : { guard }), ...(global === undefined ? {} : { global }) },
      imports,
    );
  }
}

Module({})(RateSyncModule);

function build(
  optionsProvider: Provider,
  { guard = true, global = true }: RateSyncModuleRegistration,
  imports: NonNullable<DynamicModule["imports"]> = [],
): DynamicModule {
  const providers: Provider[] = [
    optionsProvider,
    { provide: RateSync, useFactory: createInstance, inject: [RATE_SYNC_MODULE_OPTIONS] },
    RateSyncShutdown,
    RateSyncGuard,
  ];
  if (guard) providers.push({ provide: APP_GUARD, useExisting: RateSyncGuard });
  return {
    module: RateSyncModule,
    global,
    imports,
    providers,
    exports: [RateSync, RateSyncGuard, RATE_SYNC_MODULE_OPTIONS],
  };
}
