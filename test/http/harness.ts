/**
 * @module
 * One behaviour suite for every HTTP adapter, run against a real listening server on 127.0.0.1 (port 0) with
 * `fetch`, on the memory store and on Redis. Each adapter test file only says how to start its framework
 * with a set of framework-neutral scenario options.
 */

import { type Item, parseList } from "structured-headers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RateSync } from "../../src/core/rate-sync.ts";
import type { Decision } from "../../src/core/types.ts";
import type { TrustProxy } from "../../src/http/client-ip.ts";
import type { HeadersMode } from "../../src/http/headers.ts";
import { type StoreAvailability, uniqueName } from "../helpers/stores.ts";

/** Options every adapter maps onto its own: request-dependent ones come from request headers. */
export interface Scenario {
  readonly rs: RateSync;
  readonly key: string | readonly string[];
  readonly headers?: HeadersMode;
  readonly exempt?: readonly string[];
  readonly trustProxy?: TrustProxy;
  readonly ipv6Subnet?: number | false;
  readonly wait?: string;
  /** `cost` = the `x-cost` request header (default 1). */
  readonly costFromHeader?: boolean;
  /** `skip` = the `x-skip` request header is `"1"`. */
  readonly skipFromHeader?: boolean;
  /** `user` = the `x-user` request header. */
  readonly userFromHeader?: boolean;
  /** Answer refusals with a custom `418 {"custom":true,"policy":…}` through `onLimited`. */
  readonly customOnLimited?: boolean;
}

/** A started server. Every route answers `ok` after `x-hold-ms` milliseconds (default 0). */
export interface RunningServer {
  readonly url: string;
  close(): Promise<void>;
}

/** How a test file starts its framework. */
export interface AdapterHarness {
  readonly name: string;
  start(scenario: Scenario): Promise<RunningServer>;
}

/** Milliseconds a route handler holds the response, from the `x-hold-ms` header. */
export function holdMs(value: string | undefined): number {
  const ms = Number(value ?? 0);
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

/** A RateSync with every limiter the suite uses, on the given main store. */
export function suiteRateSync(store: "memory" | "redis", redisUrl: string): RateSync {
  const main =
    store === "memory"
      ? { engine: "memory" }
      : { engine: "redis", url: redisUrl, key_prefix: uniqueName("http"), timeout: "2s" };
  return RateSync.fromConfig({
    defaults: { store: "main" },
    stores: {
      main,
      // Nothing listens on port 1: every call fails fast, as a dead store would.
      dead: { engine: "redis", url: "redis://127.0.0.1:1", timeout: "200ms" },
    },
    limiters: {
      "api:<ip>": { rate: "3/min", burst: 3 },
      "cost:<ip>": { rate: "10/min", burst: 10 },
      "shadow:<ip>": { rate: "1/min", burst: 1, shadow: true },
      "login:ip:<ip>": { rate: "5/min", burst: 5 },
      "login:user:<user>": { rate: "2/min", burst: 2 },
      "one:<ip>": { rate: "1/min", burst: 1 },
      "fast:<ip>": { rate: "10/s", burst: 1 },
      "conc:<ip>": { max_concurrent: 1, lease: "30s" },
      "dead:<ip>": { store: "dead", rate: "10/s", on_store_error: "deny" },
      "blocking:<ip>": { rate: "3/min", burst: 3, block: "5m" },
    },
  });
}

/** Parses a header back as a Structured Field list of items: `[name, params]`. */
export function parseRateLimitList(
  value: string | null,
): { name: string; params: Record<string, unknown> }[] {
  expect(value).not.toBeNull();
  return parseList(value!).map((member) => {
    const [bare, params] = member as Item;
    expect(typeof bare).toBe("string");
    return { name: bare as string, params: Object.fromEntries(params) };
  });
}

function send(
  server: RunningServer,
  path = "/x",
  headers: Record<string, string> = {},
  method = "GET",
): Promise<Response> {
  return fetch(`${server.url}${path}`, { method, headers });
}

/** Defines the whole behaviour suite of one adapter on the memory store and on Redis. */
export function defineAdapterSuite(harness: AdapterHarness, redis: StoreAvailability): void {
  for (const store of ["memory", "redis"] as const) {
    describe.skipIf(store === "redis" && !redis.available)(`${harness.name} on the ${store} store`, () => {
      const cleanups: (() => Promise<void>)[] = [];
      afterEach(async () => {
        for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
      });

      async function start(
        options: Omit<Scenario, "rs">,
      ): Promise<{ server: RunningServer; rs: RateSync; decisions: Decision[] }> {
        const rs = suiteRateSync(store, redis.url);
        const decisions: Decision[] = [];
        rs.on("decision", (d) => {
          decisions.push(d);
        });
        cleanups.push(() => rs.close());
        const server = await harness.start({ ...options, rs });
        cleanups.push(() => server.close());
        return { server, rs, decisions };
      }

      it("admits up to the limit with exact draft-10 headers, then answers 429 with a problem body", async () => {
        const { server } = await start({ key: "api:<ip>" });
        const first = await send(server);
        expect(first.status).toBe(200);
        expect(await first.text()).toBe("ok");
        expect(first.headers.get("ratelimit-policy")).toBe('"api:<ip>";q=3;w=60');
        expect(first.headers.get("ratelimit")).toBe('"api:<ip>";r=2;t=20');
        expect(first.headers.get("x-ratelimit-limit")).toBeNull();
        expect(first.headers.get("retry-after")).toBeNull();
        expect(parseRateLimitList(first.headers.get("ratelimit-policy"))).toEqual([
          { name: "api:<ip>", params: { q: 3, w: 60 } },
        ]);
        expect(parseRateLimitList(first.headers.get("ratelimit"))).toEqual([
          { name: "api:<ip>", params: { r: 2, t: 20 } },
        ]);

        expect((await send(server)).headers.get("ratelimit")).toBe('"api:<ip>";r=1;t=40');
        expect((await send(server)).headers.get("ratelimit")).toBe('"api:<ip>";r=0;t=60');

        const denied = await send(server);
        expect(denied.status).toBe(429);
        expect(denied.headers.get("content-type")).toMatch(/^application\/problem\+json/);
        expect(denied.headers.get("retry-after")).toBe("20");
        expect(denied.headers.get("ratelimit")).toBe('"api:<ip>";r=0;t=60');
        expect(denied.headers.get("ratelimit-policy")).toBe('"api:<ip>";q=3;w=60');
        const body = (await denied.json()) as Record<string, unknown>;
        expect(body).toMatchObject({
          type: expect.any(String),
          title: "Too Many Requests",
          status: 429,
          detail: expect.stringContaining("api:<ip>"),
          "violated-policies": ["api:<ip>"],
        });
      });

      it("sends legacy headers, both, or none as asked", async () => {
        const legacy = await start({ key: "api:<ip>", headers: "legacy" });
        const a = await send(legacy.server);
        expect(a.headers.get("x-ratelimit-limit")).toBe("3");
        expect(a.headers.get("x-ratelimit-remaining")).toBe("2");
        expect(a.headers.get("x-ratelimit-reset")).toBe("20");
        expect(a.headers.get("ratelimit")).toBeNull();

        const both = await start({ key: "api:<ip>", headers: "both" });
        const b = await send(both.server);
        expect(b.headers.get("x-ratelimit-remaining")).toBe("2");
        expect(b.headers.get("ratelimit")).toBe('"api:<ip>";r=2;t=20');

        const none = await start({ key: "one:<ip>", headers: false });
        const c = await send(none.server);
        expect(c.headers.get("ratelimit")).toBeNull();
        expect(c.headers.get("x-ratelimit-limit")).toBeNull();
        const d = await send(none.server);
        expect(d.status).toBe(429);
        // Retry-After is part of the refusal, not of the rate limit headers: always sent.
        expect(d.headers.get("retry-after")).toBe("60");
        expect(d.headers.get("ratelimit")).toBeNull();
      });

      it("charges the cost of each request", async () => {
        const { server } = await start({ key: "cost:<ip>", costFromHeader: true });
        expect((await send(server, "/x", { "x-cost": "4" })).headers.get("ratelimit")).toBe(
          '"cost:<ip>";r=6;t=24',
        );
        const tooMuch = await send(server, "/x", { "x-cost": "7" });
        expect(tooMuch.status).toBe(429);
        // One unit short: it comes back in 6 s (10 per minute).
        expect(tooMuch.headers.get("retry-after")).toBe("6");
        expect((await send(server, "/x", { "x-cost": "6" })).status).toBe(200);
      });

      it("answers a blocked client 429 with the block's time left in Retry-After and RateLimit", async () => {
        const { server } = await start({ key: "blocking:<ip>" });
        for (let i = 0; i < 3; i++) expect((await send(server)).status).toBe(200);
        // The denial starts a 5-minute block: longer than the bucket's own 20 s.
        const started = await send(server);
        expect(started.status).toBe(429);
        expect(started.headers.get("retry-after")).toBe("300");
        expect(started.headers.get("ratelimit")).toBe('"blocking:<ip>";r=0;t=300');
        const during = await send(server);
        expect(during.status).toBe(429);
        expect(Number(during.headers.get("retry-after"))).toBeGreaterThan(240);
        expect(Number(during.headers.get("retry-after"))).toBeLessThanOrEqual(300);
        expect(during.headers.get("ratelimit")).toMatch(/^"blocking:<ip>";r=0;t=(2\d\d|300)$/);
      });

      it("refuses a cost above capacity without a Retry-After (no retry can succeed)", async () => {
        const { server } = await start({ key: "cost:<ip>", costFromHeader: true });
        const above = await send(server, "/x", { "x-cost": "11" });
        expect(above.status).toBe(429);
        expect(above.headers.get("retry-after")).toBeNull();
        expect(((await above.json()) as { detail: string }).detail).toMatch(/more than/);
      });

      it("skips requests for which skip() is true: no decision, no headers", async () => {
        const { server, decisions } = await start({ key: "one:<ip>", skipFromHeader: true });
        for (let i = 0; i < 3; i++) {
          const skipped = await send(server, "/x", { "x-skip": "1" });
          expect(skipped.status).toBe(200);
          expect(skipped.headers.get("ratelimit")).toBeNull();
        }
        expect(decisions).toHaveLength(0);
        expect((await send(server)).status).toBe(200);
        expect((await send(server)).status).toBe(429);
      });

      it("never limits exempt addresses", async () => {
        const { server, decisions } = await start({ key: "one:<ip>", exempt: ["10.0.0.0/8", "127.0.0.1"] });
        for (let i = 0; i < 3; i++) {
          const response = await send(server);
          expect(response.status).toBe(200);
          expect(response.headers.get("ratelimit")).toBeNull();
        }
        expect(decisions).toHaveLength(0);
      });

      it("lets shadow limiters through but still reports them in headers", async () => {
        const { server } = await start({ key: "shadow:<ip>" });
        expect((await send(server)).headers.get("ratelimit")).toBe('"shadow:<ip>";r=0;t=60');
        const over = await send(server);
        expect(over.status).toBe(200);
        expect(over.headers.get("ratelimit-policy")).toBe('"shadow:<ip>";q=1;w=60');
        expect(over.headers.get("ratelimit")).toMatch(/^"shadow:<ip>";r=0;t=\d+$/);
      });

      it("limits by several keys at once, and leaves out a <user> key for anonymous requests", async () => {
        const { server, decisions } = await start({
          key: ["login:ip:<ip>", "login:user:<user>"],
          userFromHeader: true,
        });
        const asBob = await send(server, "/login", { "x-user": "bob" }, "POST");
        expect(asBob.status).toBe(200);
        // One list member per limiter that applied, in the order of the keys.
        expect(parseRateLimitList(asBob.headers.get("ratelimit-policy"))).toEqual([
          { name: "login:ip:<ip>", params: { q: 5, w: 60 } },
          { name: "login:user:<user>", params: { q: 2, w: 60 } },
        ]);
        expect(parseRateLimitList(asBob.headers.get("ratelimit"))).toEqual([
          { name: "login:ip:<ip>", params: { r: 4, t: 12 } },
          { name: "login:user:<user>", params: { r: 1, t: 30 } },
        ]);
        // The decision event reports each member of the composite.
        expect(decisions.map((d) => d.key)).toEqual(["login:ip:127.0.0.1", "login:user:bob"]);

        const anonymous = await send(server, "/login", {}, "POST");
        expect(anonymous.status).toBe(200);
        expect(anonymous.headers.get("ratelimit-policy")).toBe('"login:ip:<ip>";q=5;w=60');
        expect(decisions.at(-1)?.key).toBe("login:ip:127.0.0.1");

        expect((await send(server, "/login", { "x-user": "bob" }, "POST")).status).toBe(200);
        const third = await send(server, "/login", { "x-user": "bob" }, "POST");
        expect(third.status).toBe(429);
        expect(((await third.json()) as Record<string, unknown>)["violated-policies"]).toEqual([
          "login:user:<user>",
        ]);
        // The refused composite consumed nothing: the IP limiter still has 2 of 5 left.
        const next = await send(server, "/login", { "x-user": "alice" }, "POST");
        expect(parseRateLimitList(next.headers.get("ratelimit"))[0]?.params.r).toBe(1);
      });

      it("falls back to the client IP when a lone <user> key has no user", async () => {
        const { server, decisions } = await start({ key: "login:user:<user>", userFromHeader: true });
        expect((await send(server)).status).toBe(200);
        expect(decisions.at(-1)?.key).toBe("login:user:127.0.0.1");
      });

      it("waits for the limit in wait mode, and refuses at once when the wait would be too long", async () => {
        const waiting = await start({ key: "fast:<ip>", wait: "2s" });
        const first = await send(waiting.server);
        const second = await send(waiting.server);
        expect([first.status, second.status]).toEqual([200, 200]);

        const refusing = await start({ key: "one:<ip>", wait: "1s" });
        expect((await send(refusing.server)).status).toBe(200);
        const denied = await send(refusing.server);
        expect(denied.status).toBe(429);
        expect(denied.headers.get("retry-after")).toMatch(/^(59|60)$/);
        expect(denied.headers.get("ratelimit-policy")).toBe('"one:<ip>";q=1;w=60');
        expect(((await denied.json()) as Record<string, unknown>)["violated-policies"]).toEqual(["one:<ip>"]);
      });

      it("answers 503 with Retry-After when the store fails under on_store_error = deny", async () => {
        for (const wait of [undefined, "1s"]) {
          const { server } = await start({ key: "dead:<ip>", ...(wait ? { wait } : {}) });
          const response = await send(server);
          expect(response.status).toBe(503);
          expect(response.headers.get("retry-after")).toBe("1");
          expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
          // The store's numbers are unknown: no rate limit headers pretend otherwise.
          expect(response.headers.get("ratelimit")).toBeNull();
          expect(await response.json()).toMatchObject({ status: 503, "violated-policies": ["dead:<ip>"] });
        }
      });

      it("answers a problem+json 500 without internals when the key's limiter is gone, and emits unknownLimiter", async () => {
        for (const wait of [undefined, "1s"]) {
          const { server, rs } = await start({ key: "api:<ip>", ...(wait ? { wait } : {}) });
          const unknown: string[] = [];
          rs.on("unknownLimiter", (event) => {
            unknown.push(event.key);
          });
          expect((await send(server)).status).toBe(200);
          // What a reload that renamed the template does to the running routes (test/reload covers the reload).
          rs.remove("api:<ip>");
          const response = await send(server);
          expect(response.status).toBe(500);
          expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
          const text = await response.text();
          expect(JSON.parse(text)).toEqual({
            type: "https://www.rfc-editor.org/rfc/rfc9110#name-500-internal-server-error",
            title: "Internal Server Error",
            status: 500,
            detail: "The rate limit configuration has no limit for this request.",
          });
          // No stack trace, no key (the client's address), no limiter id, no error class.
          expect(text).not.toMatch(/at |127\.0\.0\.1|api:|UnknownLimiter|<!DOCTYPE/i);
          expect(unknown).toEqual(["api:127.0.0.1"]);
        }
      });

      it("releases a concurrency slot when the response is done", async () => {
        const { server, decisions } = await start({ key: "conc:<ip>" });
        const held = send(server, "/x", { "x-hold-ms": "400" });
        // The held request has its slot once its decision is out (the handler is still sleeping).
        await vi.waitFor(() => expect(decisions).toHaveLength(1));
        const busy = await send(server);
        expect(busy.status).toBe(429);
        expect(busy.headers.get("ratelimit-policy")).toBe('"conc:<ip>";q=1');
        const first = await held;
        expect(first.status).toBe(200);
        expect(await first.text()).toBe("ok");
        // Refused tries consume nothing, so polling is harmless; a slot that was never released would keep
        // answering 429 for the whole 30 s lease.
        await vi.waitFor(async () => expect((await send(server)).status).toBe(200), { timeout: 5000 });
      });

      it("lets onLimited answer refusals, with the headers already set", async () => {
        const { server } = await start({ key: "one:<ip>", customOnLimited: true });
        await send(server);
        const custom = await send(server);
        expect(custom.status).toBe(418);
        expect(await custom.json()).toEqual({ custom: true, policy: "one:<ip>" });
        expect(custom.headers.get("retry-after")).toBe("60");
        expect(custom.headers.get("ratelimit-policy")).toBe('"one:<ip>";q=1;w=60');
      });

      describe("client address", () => {
        it("ignores X-Forwarded-For without a trusted proxy", async () => {
          const { server, decisions } = await start({ key: "one:<ip>" });
          expect((await send(server, "/x", { "x-forwarded-for": "1.1.1.1" })).status).toBe(200);
          expect((await send(server, "/x", { "x-forwarded-for": "2.2.2.2" })).status).toBe(429);
          expect(decisions.map((d) => d.key)).toEqual(["one:127.0.0.1", "one:127.0.0.1"]);
        });

        it("takes the right-most untrusted entry: spoofed left-most entries never win", async () => {
          const { server, decisions } = await start({
            key: "one:<ip>",
            trustProxy: ["loopback", "10.0.0.0/8"],
          });
          // The client sent "6.6.6.6"; the proxies appended 203.0.113.7 (the client) and 10.1.1.1 (a proxy).
          await send(server, "/x", { "x-forwarded-for": "6.6.6.6, 203.0.113.7, 10.1.1.1" });
          await send(server, "/x", { "x-forwarded-for": "7.7.7.7, 203.0.113.7, 10.1.1.1" });
          expect(decisions.map((d) => d.key)).toEqual(["one:203.0.113.7", "one:203.0.113.7"]);
          expect(decisions.map((d) => d.allowed)).toEqual([true, false]);
        });

        it("with a hop count, takes the entry that many hops from the right", async () => {
          const { server, decisions } = await start({ key: "one:<ip>", trustProxy: 2 });
          await send(server, "/x", { "x-forwarded-for": "6.6.6.6, 198.51.100.9, 10.1.1.1" });
          // Fewer entries than hops: the left-most one there is.
          await send(server, "/x", { "x-forwarded-for": "198.51.100.10" });
          expect(decisions.map((d) => d.key)).toEqual(["one:198.51.100.9", "one:198.51.100.10"]);
        });

        it("does not believe X-Forwarded-For from an untrusted peer", async () => {
          const { server, decisions } = await start({ key: "one:<ip>", trustProxy: ["10.0.0.0/8"] });
          await send(server, "/x", { "x-forwarded-for": "203.0.113.7" });
          expect(decisions.map((d) => d.key)).toEqual(["one:127.0.0.1"]);
        });

        it("groups IPv6 clients by /64 by default, or by the subnet asked", async () => {
          const grouped = await start({ key: "one:<ip>", trustProxy: ["loopback"] });
          const a = await send(grouped.server, "/x", { "x-forwarded-for": "2001:db8:1:2::1" });
          const b = await send(grouped.server, "/x", { "x-forwarded-for": "2001:db8:1:2:ffff::9" });
          const c = await send(grouped.server, "/x", { "x-forwarded-for": "[2001:db8:1:3::1]:443" });
          expect([a.status, b.status, c.status]).toEqual([200, 429, 200]);
          expect(grouped.decisions.map((d) => d.key)).toEqual([
            "one:2001:db8:1:2::/64",
            "one:2001:db8:1:2::/64",
            "one:2001:db8:1:3::/64",
          ]);

          const exact = await start({ key: "one:<ip>", trustProxy: ["loopback"], ipv6Subnet: false });
          await send(exact.server, "/x", { "x-forwarded-for": "2001:db8:1:2::1" });
          expect((await send(exact.server, "/x", { "x-forwarded-for": "2001:db8:1:2::2" })).status).toBe(200);
          expect(exact.decisions.map((d) => d.key)).toEqual(["one:2001:db8:1:2::1", "one:2001:db8:1:2::2"]);
        });

        it("applies exempt ranges to the forwarded client address", async () => {
          const { server, decisions } = await start({
            key: "one:<ip>",
            trustProxy: ["loopback"],
            exempt: ["2001:db8::/32"],
          });
          for (let i = 0; i < 2; i++) {
            expect((await send(server, "/x", { "x-forwarded-for": "2001:db8:5::1" })).status).toBe(200);
          }
          expect(decisions).toHaveLength(0);
          await send(server, "/x", { "x-forwarded-for": "192.0.2.1" });
          expect(decisions.map((d) => d.key)).toEqual(["one:192.0.2.1"]);
        });
      });
    });
  }
}
