/**
 * `rate-sync/nestjs` in a real Nest application, on both platforms: the same status, headers and body as
 * the Express adapter; the decorators (method over class, skip, un-skip, a key from the context); the
 * module's options (skip, user after an authentication guard); injection of the instance; who closes it on
 * shutdown; `forRootAsync`; hot reload of the file; and the errors of invalid options.
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Injectable,
  Module,
  Req,
  type Type,
  UseGuards,
} from "@nestjs/common";
import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import { RateSync } from "../../../src/core/rate-sync.ts";
import type { Decision } from "../../../src/core/types.ts";
import { ClosedError, InvalidArgumentError } from "../../../src/errors.ts";
import { rateLimit } from "../../../src/http/express.ts";
import {
  InjectRateSync,
  type NestHttpRequest,
  RATE_SYNC_MODULE_OPTIONS,
  RateLimit,
  RateSyncGuard,
  RateSyncModule,
  type RateSyncModuleOptions,
  type RateSyncModuleRegistration,
  SkipRateLimit,
} from "../../../src/http/nestjs/index.ts";
import { PLATFORMS, type RunningNestApp, startNest } from "./app.ts";

const LIMITERS = {
  "api:<ip>": { rate: "2/min", burst: 2 },
  "cls:<ip>": { rate: "3/min", burst: 3 },
  "own:<ip>": { rate: "1/min", burst: 1 },
  "cost:<ip>": { rate: "10/min", burst: 10 },
  "route:<ip>": { rate: "5/min", burst: 5 },
  "user:<user>": { rate: "1/min", burst: 1 },
} as const;

function instance(): RateSync {
  return RateSync.fromConfig({ limiters: LIMITERS });
}

/** What a handler reports: the limiter that admitted the request, as the guard left it on `req.rateLimit`. */
function admittedBy(req: { rateLimit?: Decision }): { limiter: string | null } {
  return { limiter: req.rateLimit?.limiter ?? null };
}

@Controller("plain")
class PlainController {
  @Get() plain(@Req() req: { rateLimit?: Decision }) {
    return admittedBy(req);
  }
  @Get("own") @RateLimit("own:<ip>") own(@Req() req: { rateLimit?: Decision }) {
    return admittedBy(req);
  }
  @Get("skipped") @SkipRateLimit() skipped(@Req() req: { rateLimit?: Decision }) {
    return admittedBy(req);
  }
  @Get("cost") @RateLimit("cost:<ip>", { cost: 4 }) cost(@Req() req: { rateLimit?: Decision }) {
    return admittedBy(req);
  }
  @Get("by-handler")
  @RateLimit((_req, context) => `route:${context.getClass().name}.${context.getHandler().name}`)
  byHandler(@Req() req: { rateLimit?: Decision }) {
    return { ...admittedBy(req), key: req.rateLimit?.key };
  }
}

@Controller("cls")
@RateLimit("cls:<ip>", { cost: 2 })
class LimitedController {
  @Get() inherited(@Req() req: { rateLimit?: Decision }) {
    return admittedBy(req);
  }
  // Its own key; the controller's cost (2) still applies: options it does not give come from the class.
  @Get("own") @RateLimit("cost:<ip>") own(@Req() req: { rateLimit?: Decision }) {
    return admittedBy(req);
  }
  @Get("skipped") @SkipRateLimit() skipped(@Req() req: { rateLimit?: Decision }) {
    return admittedBy(req);
  }
}

@Controller("off")
@SkipRateLimit()
class SkippedController {
  @Get() off(@Req() req: { rateLimit?: Decision }) {
    return admittedBy(req);
  }
  @Get("module-key") @SkipRateLimit(false) moduleKey(@Req() req: { rateLimit?: Decision }) {
    return admittedBy(req);
  }
  @Get("own") @RateLimit("own:<ip>") own(@Req() req: { rateLimit?: Decision }) {
    return admittedBy(req);
  }
}

const ALL_CONTROLLERS = [PlainController, LimitedController, SkippedController];

async function get(app: RunningNestApp, path: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${app.url}${path}`, { headers });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) };
}

for (const platform of PLATFORMS) {
  describe(`rate-sync/nestjs on ${platform}`, () => {
    const cleanups: (() => Promise<unknown>)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function start(parts: Parameters<typeof startNest>[1]): Promise<RunningNestApp> {
      const app = await startNest(platform, parts);
      cleanups.push(() => app.close());
      return app;
    }

    async function withInstance(
      options: Omit<RateSyncModuleOptions & RateSyncModuleRegistration, "rs"> = {},
      controllers: Type[] = ALL_CONTROLLERS,
    ) {
      const rs = instance();
      cleanups.push(() => rs.close());
      const decisions: Decision[] = [];
      rs.on("decision", (d) => {
        decisions.push(d);
      });
      const app = await start({ imports: [RateSyncModule.forRoot({ rs, ...options })], controllers });
      return { app, rs, decisions };
    }

    it("answers with the same status, headers and body as the Express adapter, request for request", async () => {
      // The reference: the Express middleware on its own instance of the same config.
      const reference = instance();
      cleanups.push(() => reference.close());
      const plain = express();
      plain.use(rateLimit({ rs: reference, key: "api:<ip>", headers: "both" }));
      plain.get("/{*rest}", (req, res) => {
        res.json(admittedBy(res.locals as { rateLimit?: Decision }));
        void req;
      });
      const server = plain.listen(0, "127.0.0.1");
      await new Promise<void>((resolve) => server.once("listening", resolve));
      cleanups.push(
        () =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      );
      const expressUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

      const { app } = await withInstance({ key: "api:<ip>", headers: "both" });
      const names = [
        "ratelimit-policy",
        "ratelimit",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "retry-after",
      ];
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const want = await fetch(`${expressUrl}/plain`);
        const got = await get(app, "/plain");
        statuses.push(got.status);
        expect(got.status).toBe(want.status);
        for (const name of names)
          expect([name, got.headers.get(name)]).toEqual([name, want.headers.get(name)]);
        // The media type (Express adds "; charset=utf-8" to a JSON body on either side).
        const mediaType = (r: { headers: Headers }) => r.headers.get("content-type")?.split(";")[0];
        expect(mediaType(got)).toBe(mediaType(want));
        // The problem body byte for byte (the bodies of allowed requests are the handlers' own).
        if (got.status === 429) expect(got.text).toBe(await want.text());
        else expect(got.json()).toEqual({ limiter: "api:<ip>" });
      }
      expect(statuses).toEqual([200, 200, 429]);
    });

    it("limits by the module's key only routes without decorators; @RateLimit gives a route its own limit", async () => {
      const { app } = await withInstance({ key: "api:<ip>" });
      expect((await get(app, "/plain")).json()).toEqual({ limiter: "api:<ip>" });
      const own = await get(app, "/plain/own");
      expect(own.json()).toEqual({ limiter: "own:<ip>" });
      expect(own.headers.get("ratelimit-policy")).toBe('"own:<ip>";q=1;w=60');
      expect((await get(app, "/plain/own")).status).toBe(429);
      // The module's limiter was not charged by the decorated route: one of two left.
      expect((await get(app, "/plain")).headers.get("ratelimit")).toBe('"api:<ip>";r=0;t=60');
    });

    it("charges a route's cost", async () => {
      const { app } = await withInstance();
      expect((await get(app, "/plain/cost")).headers.get("ratelimit")).toBe('"cost:<ip>";r=6;t=24');
      expect((await get(app, "/plain/cost")).headers.get("ratelimit")).toBe('"cost:<ip>";r=2;t=48');
      expect((await get(app, "/plain/cost")).status).toBe(429);
    });

    it("without a module key, leaves undecorated routes unlimited: no decision, no headers", async () => {
      const { app, decisions } = await withInstance();
      for (let i = 0; i < 4; i++) {
        const response = await get(app, "/plain");
        expect(response.status).toBe(200);
        expect(response.headers.get("ratelimit")).toBeNull();
      }
      expect(decisions).toHaveLength(0);
    });

    it("applies a controller's @RateLimit to its routes, overridden by a method's", async () => {
      const { app, decisions } = await withInstance({ key: "api:<ip>" });
      expect((await get(app, "/cls")).headers.get("ratelimit")).toBe('"cls:<ip>";r=1;t=40');
      const own = await get(app, "/cls/own");
      expect(own.json()).toEqual({ limiter: "cost:<ip>" });
      // The method's key with the controller's cost of 2.
      expect(own.headers.get("ratelimit")).toBe('"cost:<ip>";r=8;t=12');
      const skipped = await get(app, "/cls/skipped");
      expect(skipped.json()).toEqual({ limiter: null });
      expect(skipped.headers.get("ratelimit")).toBeNull();
      expect(decisions.map((d) => d.limiter)).toEqual(["cls:<ip>", "cost:<ip>"]);
    });

    it("skips a controller with @SkipRateLimit(), except where a method says otherwise", async () => {
      const { app, decisions } = await withInstance({ key: "api:<ip>" });
      for (let i = 0; i < 3; i++) expect((await get(app, "/off")).status).toBe(200);
      expect(decisions).toHaveLength(0);
      expect((await get(app, "/off/module-key")).json()).toEqual({ limiter: "api:<ip>" });
      expect((await get(app, "/off/own")).json()).toEqual({ limiter: "own:<ip>" });
      expect((await get(app, "/off/own")).status).toBe(429);
    });

    it("gives key functions the execution context: one limit per handler", async () => {
      const { app } = await withInstance();
      const response = await get(app, "/plain/by-handler");
      expect(response.json()).toEqual({ limiter: "route:<ip>", key: "route:PlainController.byHandler" });
    });

    it("lets skip(req, context) leave requests unlimited, like @nestjs/throttler's skipIf", async () => {
      const seen: string[] = [];
      const { app, decisions } = await withInstance({
        key: "own:<ip>",
        skip: (req, context) => {
          seen.push(context.getHandler().name);
          return req.headers["x-internal"] === "1";
        },
      });
      for (let i = 0; i < 3; i++) expect((await get(app, "/plain", { "x-internal": "1" })).status).toBe(200);
      expect(decisions).toHaveLength(0);
      expect((await get(app, "/plain")).status).toBe(200);
      expect((await get(app, "/plain")).status).toBe(429);
      expect(new Set(seen)).toEqual(new Set(["plain"]));
    });

    it("reads <user> from what an authentication guard set, with guard: false and @UseGuards(Auth, RateSyncGuard)", async () => {
      @Injectable()
      class AuthGuard implements CanActivate {
        canActivate(context: ExecutionContext): boolean {
          const req = context.switchToHttp().getRequest();
          req.user = { id: req.headers["x-token"] };
          return true;
        }
      }
      @Controller("me")
      @UseGuards(AuthGuard, RateSyncGuard)
      class MeController {
        @Get() @RateLimit("user:<user>") me(@Req() req: { rateLimit?: Decision }) {
          return { key: req.rateLimit?.key };
        }
      }
      const { app } = await withInstance(
        { guard: false, user: (req: NestHttpRequest & { user?: { id?: string } }) => req.user?.id },
        [MeController],
      );
      expect((await get(app, "/me", { "x-token": "ann" })).json()).toEqual({ key: "user:ann" });
      expect((await get(app, "/me", { "x-token": "ann" })).status).toBe(429);
      expect((await get(app, "/me", { "x-token": "bob" })).status).toBe(200);
    });

    it("decides a request once when the guard is both global and in @UseGuards", async () => {
      @Controller("twice")
      @UseGuards(RateSyncGuard)
      class TwiceController {
        @Get() @RateLimit("cost:<ip>") twice() {
          return "ok";
        }
      }
      const { app, decisions } = await withInstance({}, [TwiceController]);
      expect((await get(app, "/twice")).headers.get("ratelimit")).toBe('"cost:<ip>";r=9;t=6');
      expect(decisions).toHaveLength(1);
    });

    it("works as app.useGlobalGuards(app.get(RateSyncGuard)) with guard: false", async () => {
      const rs = instance();
      cleanups.push(() => rs.close());
      const app = await start({
        imports: [RateSyncModule.forRoot({ rs, guard: false, key: "own:<ip>" })],
        controllers: [PlainController],
        setup: (nest) => nest.useGlobalGuards(nest.get(RateSyncGuard)),
      });
      expect((await get(app, "/plain")).status).toBe(200);
      expect((await get(app, "/plain")).status).toBe(429);
    });

    it("injects the instance by its class and with @InjectRateSync(), in any module", async () => {
      @Injectable()
      class Quota {
        constructor(
          readonly byType: RateSync,
          @InjectRateSync() readonly byToken: RateSync,
        ) {}
      }
      @Module({ providers: [Quota], exports: [Quota] })
      class FeatureModule {}

      const rs = instance();
      cleanups.push(() => rs.close());
      // The feature module does not import RateSyncModule: the module is global.
      const app = await start({ imports: [RateSyncModule.forRoot({ rs }), FeatureModule] });
      const quota = app.app.get(Quota, { strict: false });
      expect(quota.byType).toBe(rs);
      expect(quota.byToken).toBe(rs);
      expect(app.app.get(RateSync)).toBe(rs);
    });

    it("closes an instance the module made when the application closes, and leaves one it was given", async () => {
      const owned = await startNest(platform, {
        imports: [RateSyncModule.forRoot({ config: { limiters: LIMITERS }, key: "api:<ip>" })],
        controllers: [PlainController],
      });
      const made = owned.app.get(RateSync);
      expect((await get(owned, "/plain")).status).toBe(200);
      await owned.close();
      await expect(made.tryAcquire("api:1")).rejects.toBeInstanceOf(ClosedError);

      const { app, rs } = await withInstance({ key: "api:<ip>" });
      await app.close();
      cleanups.length = 0;
      cleanups.push(() => rs.close());
      expect((await rs.tryAcquire("api:1")).allowed).toBe(true);
    });

    it("takes its options from forRootAsync's factory, with injected providers", async () => {
      const SETTINGS = Symbol("settings");
      @Module({ providers: [{ provide: SETTINGS, useValue: { limit: 1 } }], exports: [SETTINGS] })
      class SettingsModule {}
      const app = await start({
        imports: [
          RateSyncModule.forRootAsync({
            imports: [SettingsModule],
            inject: [SETTINGS],
            useFactory: async (settings: { limit: number }) => ({
              config: { limiters: { "api:<ip>": { rate: `${settings.limit}/min`, burst: settings.limit } } },
              key: "api:<ip>",
            }),
          }),
        ],
        controllers: [PlainController],
      });
      expect((await get(app, "/plain")).headers.get("ratelimit-policy")).toBe('"api:<ip>";q=1;w=60');
      expect((await get(app, "/plain")).status).toBe(429);
      expect(app.app.get(RATE_SYNC_MODULE_OPTIONS)).toMatchObject({ key: "api:<ip>" });
    });

    it("fails the start when forRootAsync's factory gives invalid options", async () => {
      await expect(
        startNest(platform, {
          imports: [RateSyncModule.forRootAsync({ useFactory: () => ({ key: "api:<nope>" }) })],
        }),
      ).rejects.toThrow(/RateSyncModule: key "api:<nope>": unknown placeholder <nope>/);
    });

    it("hot-reloads the config file with watch: true: new limits without a restart", async () => {
      const dir = mkdtempSync(join(tmpdir(), "rate-sync-nest-"));
      cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
      const file = join(dir, "rate-sync.toml");
      const toml = (limit: number) => `[limiters."api:<ip>"]\nrate = "${limit}/min"\nburst = ${limit}\n`;
      writeFileSync(file, toml(2));
      const app = await start({
        imports: [RateSyncModule.forRoot({ file, watch: true, debounceMs: 20, key: "api:<ip>" })],
        controllers: [PlainController],
      });
      expect((await get(app, "/plain")).headers.get("ratelimit-policy")).toBe('"api:<ip>";q=2;w=60');
      const rs = app.app.get(RateSync);
      const reloaded = new Promise((resolve) => rs.once("reload", resolve));
      writeFileSync(file, toml(7));
      await reloaded;
      expect((await get(app, "/plain")).headers.get("ratelimit-policy")).toBe('"api:<ip>";q=7;w=60');
    });
  });
}

describe("rate-sync/nestjs options", () => {
  it("refuses invalid module options when forRoot is called, naming the option", () => {
    expect(() => RateSyncModule.forRoot({ key: "api:<nope>" })).toThrow(
      new InvalidArgumentError(
        'RateSyncModule: key "api:<nope>": unknown placeholder <nope>; use <ip>, <method>, <path>, <user> or <header:name>',
      ),
    );
    expect(() => RateSyncModule.forRoot({ headers: "draft-7" as never })).toThrow(/RateSyncModule: headers:/);
    expect(() => RateSyncModule.forRoot({ wait: "soon" })).toThrow(/RateSyncModule: wait:/);
    expect(() => RateSyncModule.forRoot({ trustProxy: true as never })).toThrow(
      /RateSyncModule: trustProxy:/,
    );
    expect(() => RateSyncModule.forRoot({ config: {}, file: "x.toml" })).toThrow(
      "RateSyncModule: give one of rs, config or file, not config and file",
    );
    expect(() => RateSyncModule.forRoot({ config: {}, watch: true })).toThrow(
      "RateSyncModule: watch: only a config file can be watched, and the instance comes from config",
    );
    expect(() => RateSyncModule.forRoot({ rs: {} as RateSync })).toThrow(/rs: expected a RateSync instance/);
  });

  it("refuses an invalid @RateLimit when the class is defined, not on the first request", () => {
    expect(() => RateLimit("x:<nope>")).toThrow(/^@RateLimit: key "x:<nope>": unknown placeholder <nope>/);
    expect(() => RateLimit("x", { cost: -1 })).toThrow(
      "@RateLimit: cost: expected a positive number or a function, got -1",
    );
    expect(() => RateLimit("x", { wait: "later" })).toThrow(/^@RateLimit: wait:/);
    expect(() => SkipRateLimit("yes" as never)).toThrow("@SkipRateLimit: expected true or false, got yes");
  });
});
