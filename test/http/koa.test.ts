/**
 * The Koa middleware against a real Koa server: the shared behaviour suite on memory and Redis, then what is
 * Koa's own (`ctx.state`, the downstream chain, streamed bodies).
 */

import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import Koa from "koa";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RateSync } from "../../src/core/rate-sync.ts";
import { type RateLimitState, rateLimit } from "../../src/http/koa.ts";
import { requireRedis } from "../helpers/stores.ts";
import { type AdapterHarness, defineAdapterSuite, holdMs, type RunningServer } from "./harness.ts";

/** Listens on 127.0.0.1, port 0. */
async function listen(app: Koa<RateLimitState>): Promise<RunningServer> {
  const server = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const harness: AdapterHarness = {
  name: "koa",
  async start(scenario) {
    const app = new Koa<RateLimitState>();
    app.use(
      rateLimit({
        rs: scenario.rs,
        key: scenario.key,
        ...(scenario.headers === undefined ? {} : { headers: scenario.headers }),
        ...(scenario.exempt ? { exempt: scenario.exempt } : {}),
        ...(scenario.trustProxy === undefined ? {} : { trustProxy: scenario.trustProxy }),
        ...(scenario.ipv6Subnet === undefined ? {} : { ipv6Subnet: scenario.ipv6Subnet }),
        ...(scenario.wait ? { wait: scenario.wait } : {}),
        ...(scenario.costFromHeader ? { cost: (ctx) => Number(ctx.get("x-cost") || 1) } : {}),
        ...(scenario.skipFromHeader ? { skip: (ctx) => ctx.get("x-skip") === "1" } : {}),
        ...(scenario.userFromHeader ? { user: (ctx) => ctx.get("x-user") } : {}),
        ...(scenario.customOnLimited
          ? {
              onLimited: (ctx, decision) => {
                ctx.status = 418;
                ctx.body = { custom: true, policy: decision.policy.name };
              },
            }
          : {}),
      }),
    );
    app.use(async (ctx) => {
      await new Promise((resolve) => setTimeout(resolve, holdMs(ctx.get("x-hold-ms"))));
      ctx.body = "ok";
    });
    return listen(app);
  },
};

defineAdapterSuite(harness, await requireRedis());

describe("koa specifics", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function start(configure: (app: Koa<RateLimitState>, rs: RateSync) => void): Promise<string> {
    const rs = RateSync.fromConfig({
      limiters: { "one:<ip>": { rate: "1/min", burst: 1 }, "conc:<ip>": { max_concurrent: 1, lease: "30s" } },
    });
    cleanups.push(() => rs.close());
    const app = new Koa<RateLimitState>();
    configure(app, rs);
    const server = await listen(app);
    cleanups.push(() => server.close());
    return server.url;
  }

  it("puts the decision on ctx.state.rateLimit and does not run downstream middleware for a refusal", async () => {
    let downstream = 0;
    const url = await start((app, rs) => {
      app.use(rateLimit({ rs, key: "one:<ip>" }));
      app.use((ctx) => {
        downstream++;
        ctx.body = { limiter: ctx.state.rateLimit?.limiter, remaining: ctx.state.rateLimit?.remaining };
      });
    });
    const first = await fetch(url);
    expect(await first.json()).toEqual({ limiter: "one:<ip>", remaining: 0 });
    const refused = await fetch(url);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    expect(downstream).toBe(1);
  });

  it("keeps the rate limit headers on a JSON body set downstream", async () => {
    const url = await start((app, rs) => {
      app.use(rateLimit({ rs, key: "one:<ip>" }));
      app.use((ctx) => {
        ctx.body = { fine: true };
      });
    });
    const response = await fetch(url);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(response.headers.get("ratelimit-policy")).toBe('"one:<ip>";q=1;w=60');
  });

  it("holds a concurrency slot until a streamed body has been sent", async () => {
    let push: ((chunk: string | null) => void) | undefined;
    const url = await start((app, rs) => {
      app.use(rateLimit({ rs, key: "conc:<ip>" }));
      app.use((ctx) => {
        // Only the first request streams; later ones answer at once.
        if (push !== undefined) {
          ctx.body = "ok";
          return;
        }
        const body = new Readable({ read() {} });
        push = (chunk) => body.push(chunk);
        // A first chunk sends the headers (Node writes them with the first chunk of the body).
        body.push("part, ");
        ctx.body = body;
      });
    });
    const streaming = await fetch(url);
    expect(streaming.status).toBe(200);
    // The middleware has returned, the headers are out, the body is still streaming: the slot is held.
    const busy = await fetch(url);
    expect(busy.status).toBe(429);
    push!("done");
    push!(null);
    expect(await streaming.text()).toBe("part, done");
    await vi.waitFor(async () => expect((await fetch(url)).status).toBe(200), { timeout: 5000 });
  });
});
