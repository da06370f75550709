/**
 * The Fastify plugin against a real server: the shared behaviour suite on memory and Redis, plus per-route
 * configuration (a route's own key, opting out, `global: false`).
 */

import Fastify, { type FastifyRequest } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { RateSync } from "../../src/core/rate-sync.ts";
import { rateLimit } from "../../src/http/fastify.ts";
import { requireRedis } from "../helpers/stores.ts";
import { type AdapterHarness, defineAdapterSuite, holdMs } from "./harness.ts";

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

const harness: AdapterHarness = {
  name: "fastify",
  async start(scenario) {
    const app = Fastify();
    await app.register(rateLimit, {
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
      ...(scenario.customOnLimited
        ? {
            onLimited: (_req, reply, decision) =>
              reply.code(418).send({ custom: true, policy: decision.policy.name }),
          }
        : {}),
    });
    app.all("/*", async (request) => {
      await new Promise((resolve) => setTimeout(resolve, holdMs(header(request, "x-hold-ms"))));
      return "ok";
    });
    const url = await app.listen({ port: 0, host: "127.0.0.1" });
    return { url, close: () => app.close() };
  },
};

defineAdapterSuite(harness, await requireRedis());

describe("fastify per-route configuration", () => {
  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  async function app(global?: boolean) {
    const rs = RateSync.fromConfig({
      limiters: { "api:<ip>": { rate: "1/min", burst: 1 }, "login:<ip>": { rate: "2/min", burst: 2 } },
    });
    const fastify = Fastify();
    await fastify.register(rateLimit, { rs, key: "api:<ip>", ...(global === undefined ? {} : { global }) });
    fastify.get("/a", async () => "a");
    fastify.get("/login", { config: { rateLimit: { key: "login:<ip>" } } }, async (request) => ({
      limiter: request.rateLimit?.limiter,
    }));
    fastify.get("/health", { config: { rateLimit: false } }, async () => "up");
    const url = await fastify.listen({ port: 0, host: "127.0.0.1" });
    closers.push(
      () => rs.close(),
      () => fastify.close(),
    );
    return url;
  }

  it("applies the plugin's key to every route, a route's own key to that route, none where disabled", async () => {
    const url = await app();
    expect((await fetch(`${url}/a`)).status).toBe(200);
    expect((await fetch(`${url}/a`)).status).toBe(429);
    const login = await fetch(`${url}/login`);
    expect(login.headers.get("ratelimit-policy")).toBe('"login:<ip>";q=2;w=60');
    expect(await login.json()).toEqual({ limiter: "login:<ip>" });
    expect((await fetch(`${url}/login`)).status).toBe(200);
    expect((await fetch(`${url}/login`)).status).toBe(429);
    for (let i = 0; i < 3; i++) {
      const health = await fetch(`${url}/health`);
      expect(health.status).toBe(200);
      expect(health.headers.get("ratelimit")).toBeNull();
    }
  });

  it("with global: false, limits only routes that ask", async () => {
    const url = await app(false);
    for (let i = 0; i < 3; i++) expect((await fetch(`${url}/a`)).status).toBe(200);
    expect((await fetch(`${url}/login`)).status).toBe(200);
  });

  it("fails the registration for invalid options", async () => {
    const fastify = Fastify();
    closers.push(() => fastify.close());
    await expect(
      fastify.register(rateLimit, { rs: RateSync.fromConfig({}), key: "api:<nope>" }).ready(),
    ).rejects.toThrow(/unknown placeholder <nope>/);
  });
});
