/**
 * Hostile HTTP input reaching the key: spoofed and garbage `X-Forwarded-For`, oversized headers and paths,
 * odd addresses. Checked on the framework-neutral core the Express, Fastify and Hono adapters share, so every
 * adapter inherits the result: a request is limited under a key it cannot choose to be someone else's, and
 * never fails with an error because of what a client sent.
 */

import { afterAll, describe, expect, it } from "vitest";
import { RequestLimiter, type RequestView, type Verdict } from "../../src/http/request-limiter.ts";
import { RateSync } from "../../src/index.ts";

const rs = RateSync.fromToml(
  `
[limiters."ip:<x>"]
algorithm = "fixed_window"
limit = 2
window = "1h"

[limiters."t:<x>"]
algorithm = "fixed_window"
limit = 2
window = "1h"
`,
  { env: {} },
);
afterAll(() => rs.close());

function view(
  options: { socket?: string; path?: string; headers?: Record<string, string> } = {},
): RequestView {
  const headers = options.headers ?? {};
  return {
    method: "GET",
    path: options.path ?? "/",
    socketAddress: options.socket ?? "203.0.113.7",
    header: (name) => headers[name],
  };
}

type Options = ConstructorParameters<typeof RequestLimiter<unknown>>[0];

async function keyOf(options: Options, request: RequestView): Promise<string> {
  const verdict: Verdict = await new RequestLimiter<unknown>({ rs, ...options }).check({}, request);
  if (verdict.action === "skip" || verdict.action === "error")
    throw new Error(`unexpected ${verdict.action}`);
  if (verdict.action === "allow") await verdict.release();
  return verdict.decision.key;
}

describe("X-Forwarded-For", () => {
  it("is ignored without a trusted proxy: a client cannot pick its own bucket", async () => {
    const keys = new Set<string>();
    for (const xff of ["1.1.1.1", "2.2.2.2, 3.3.3.3", "garbage", "::1", "", "203.0.113.8"]) {
      keys.add(await keyOf({ key: "ip:<ip>" }, view({ headers: { "x-forwarded-for": xff } })));
    }
    expect([...keys]).toEqual(["ip:203.0.113.7"]);
  });

  it("behind one trusted proxy, entries the client wrote to the left never win", async () => {
    const proxy = { socket: "10.0.0.1" };
    const spoofed = await Promise.all(
      [
        "9.9.9.9, 198.51.100.4",
        "127.0.0.1, 198.51.100.4",
        "garbage,,,, 198.51.100.4",
        "10.0.0.5, 198.51.100.4",
      ].map((xff) =>
        keyOf({ key: "ip:<ip>", trustProxy: 1 }, view({ ...proxy, headers: { "x-forwarded-for": xff } })),
      ),
    );
    expect(new Set(spoofed)).toEqual(new Set(["ip:198.51.100.4"]));
  });

  it("behind trusted ranges, the right-most untrusted entry is the client", async () => {
    const key = await keyOf(
      { key: "ip:<ip>", trustProxy: ["10.0.0.0/8"] },
      view({
        socket: "10.0.0.1",
        headers: { "x-forwarded-for": "6.6.6.6, 198.51.100.9, 10.1.1.1, 10.2.2.2" },
      }),
    );
    expect(key).toBe("ip:198.51.100.9");
  });

  it("garbage entries and odd forms never throw and never invent an address", async () => {
    const garbage = [
      "not-an-ip",
      "999.1.1.1",
      "::::",
      "1.2.3.4.5",
      "[::1",
      "1.2.3.4:99999",
      "fe80::1%eth0",
      "\u0000",
      ",".repeat(10_000),
      "1.1.1.1 ".repeat(1_000),
      "x".repeat(8_000),
    ];
    for (const xff of garbage) {
      const key = await keyOf(
        { key: "ip:<ip>", trustProxy: 1 },
        view({ socket: "10.0.0.1", headers: { "x-forwarded-for": xff } }),
      );
      // Either a parsed address or the socket's: never the raw garbage.
      expect(key, JSON.stringify(xff.slice(0, 20))).toMatch(/^ip:[0-9a-f.:/]+$/);
    }
  });

  it("IPv6 clients are grouped by /64 (one client cannot rotate through its subnet)", async () => {
    const a = await keyOf({ key: "ip:<ip>" }, view({ socket: "2001:db8:1:2::1" }));
    const b = await keyOf({ key: "ip:<ip>" }, view({ socket: "2001:db8:1:2:ffff:ffff:ffff:ffff" }));
    const c = await keyOf({ key: "ip:<ip>" }, view({ socket: "2001:db8:1:3::1" }));
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });
});

describe("oversized request values", () => {
  it("a header longer than a key may be is limited under a digest, not failed with an error", async () => {
    const options: Options = { key: "t:<header:x-tenant>" };
    const long = (c: string) => view({ headers: { "x-tenant": c.repeat(5_000) } });
    const a = await keyOf(options, long("a"));
    expect(Buffer.byteLength(a)).toBeLessThanOrEqual(1_024);
    expect(a.startsWith("t:\u0000sha256:")).toBe(true);
    // Distinct values keep distinct limits; the same value keeps its limit.
    expect(await keyOf(options, long("b"))).not.toBe(a);
    const limiter = new RequestLimiter<unknown>({ rs, ...options });
    expect((await limiter.check({}, long("a"))).action).toBe("allow");
    expect((await limiter.check({}, long("a"))).action).toBe("refuse");
  });

  it("a long path is limited too, and short values keep their plain key", async () => {
    const options: Options = { key: "t:<method>:<path>" };
    const key = await keyOf(options, view({ path: `/${"p".repeat(3_000)}` }));
    expect(Buffer.byteLength(key)).toBeLessThanOrEqual(1_024);
    expect(await keyOf(options, view({ path: "/short" }))).toBe("t:GET:/short");
  });

  it("a client cannot send a digest to share another client's bucket", async () => {
    const options: Options = { key: "t:<header:x-tenant>" };
    const hashed = await keyOf(options, view({ headers: { "x-tenant": "v".repeat(5_000) } }));
    // The same text without the NUL (which HTTP cannot carry) is another key.
    const typed = await keyOf(options, view({ headers: { "x-tenant": hashed.slice("t:\u0000".length) } }));
    expect(typed).not.toBe(hashed);
  });
});
