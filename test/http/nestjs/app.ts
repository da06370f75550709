/**
 * @module
 * Starts a real Nest application on either platform, listening on 127.0.0.1 (port 0), for tests that send it
 * real requests with `fetch`.
 */

import "reflect-metadata";
import type { DynamicModule, INestApplication, Provider, Type } from "@nestjs/common";
import { ExpressAdapter } from "@nestjs/platform-express";
import { FastifyAdapter } from "@nestjs/platform-fastify";
import { Test } from "@nestjs/testing";

/** The two HTTP platforms of Nest. */
export const PLATFORMS = ["express", "fastify"] as const;
export type Platform = (typeof PLATFORMS)[number];

/** What a test app is made of. */
export interface NestAppParts {
  readonly imports?: (DynamicModule | Type)[];
  readonly controllers?: Type[];
  readonly providers?: Provider[];
  /** Runs on the application before it listens (global guards, filters). */
  readonly setup?: (app: INestApplication) => void;
}

/** A listening application. */
export interface RunningNestApp {
  readonly app: INestApplication;
  readonly url: string;
  close(): Promise<void>;
}

/** Compiles a testing module from `parts` and listens on a free port, on `platform`. */
export async function startNest(platform: Platform, parts: NestAppParts): Promise<RunningNestApp> {
  const moduleRef = await Test.createTestingModule({
    imports: parts.imports ?? [],
    controllers: parts.controllers ?? [],
    providers: parts.providers ?? [],
  }).compile();
  const adapter = platform === "express" ? new ExpressAdapter() : new FastifyAdapter();
  const app = moduleRef.createNestApplication(adapter, { logger: false });
  parts.setup?.(app);
  await app.listen(0, "127.0.0.1");
  const address = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${address.port}`, close: () => app.close() };
}
