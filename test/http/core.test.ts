/**
 * The framework-neutral pieces of the HTTP adapters: addresses and ranges, the client address behind
 * proxies, key templates and their missing-value rule, Structured Field headers, option validation.
 */

import { parseItem, parseList } from "structured-headers";
import { describe, expect, it } from "vitest";
import type { Decision } from "../../src/core/types.ts";
import { clientIp, compileTrustProxy } from "../../src/http/client-ip.ts";
import { rateLimitHeaders, retryAfterSeconds, sfString } from "../../src/http/headers.ts";
import { formatIp, groupIp, inRange, parseIp, parseRange } from "../../src/http/ip.ts";
import { fillKeys, KeyTemplate, type RequestValues } from "../../src/http/key-template.ts";
import { problemDetails } from "../../src/http/problem.ts";
import { RequestLimiter } from "../../src/http/request-limiter.ts";

function ip(text: string): string {
  const parsed = parseIp(text);
  return parsed ? formatIp(parsed) : "invalid";
}

describe("IP addresses", () => {
  it("parses and prints IPv4 and IPv6 canonically", () => {
    expect(ip("192.0.2.1")).toBe("192.0.2.1");
    expect(ip("2001:0DB8:0000:0000:0001:0000:0000:0001")).toBe("2001:db8::1:0:0:1");
    expect(ip("::ffff:192.0.2.1")).toBe("192.0.2.1");
    expect(ip("fe80::1%eth0")).toBe("fe80::1");
    expect(ip("::")).toBe("::");
    for (const bad of [
      "01.2.3.4",
      "1.2.3",
      "256.1.1.1",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "",
      "x",
      "::ffff:1.2.3",
    ]) {
      expect(ip(bad)).toBe("invalid");
    }
  });

  it("matches CIDR ranges of both families", () => {
    const inside = (addr: string, range: string) => inRange(parseIp(addr)!, parseRange(range)!);
    expect(inside("10.200.3.4", "10.0.0.0/8")).toBe(true);
    expect(inside("11.0.0.1", "10.0.0.0/8")).toBe(false);
    expect(inside("::ffff:10.0.0.1", "10.0.0.0/8")).toBe(true);
    expect(inside("2001:db8:ffff::1", "2001:db8::/32")).toBe(true);
    expect(inside("2001:db9::1", "2001:db8::/32")).toBe(false);
    expect(inside("192.0.2.1", "192.0.2.1")).toBe(true);
    expect(parseRange("10.0.0.0/33")).toBeUndefined();
  });

  it("groups IPv6 by subnet, never IPv4", () => {
    expect(groupIp(parseIp("2001:db8:1:2:3:4:5:6")!, 64)).toBe("2001:db8:1:2::/64");
    expect(groupIp(parseIp("2001:db8:1:2:3:4:5:6")!, 48)).toBe("2001:db8:1::/48");
    expect(groupIp(parseIp("2001:db8:1:2:3:4:5:6")!, false)).toBe("2001:db8:1:2:3:4:5:6");
    expect(groupIp(parseIp("192.0.2.1")!, 64)).toBe("192.0.2.1");
  });
});

describe("client address", () => {
  const resolve = (
    socket: string,
    xff: string | undefined,
    trust: Parameters<typeof compileTrustProxy>[0],
  ) => {
    const found = clientIp(socket, xff, compileTrustProxy(trust));
    return found ? formatIp(found) : undefined;
  };

  it("is the socket peer unless a proxy is trusted", () => {
    expect(resolve("203.0.113.1", "1.1.1.1", undefined)).toBe("203.0.113.1");
    expect(resolve("::ffff:203.0.113.1", "1.1.1.1", 0)).toBe("203.0.113.1");
  });

  it("walks X-Forwarded-For from the right through trusted ranges only", () => {
    const trust = ["10.0.0.0/8"];
    expect(resolve("10.0.0.1", "9.9.9.9, 198.51.100.4, 10.0.0.2", trust)).toBe("198.51.100.4");
    // Every hop trusted: the left-most entry is all there is.
    expect(resolve("10.0.0.1", "10.0.0.3, 10.0.0.2", trust)).toBe("10.0.0.3");
    // The peer itself is not trusted: its header is not believed.
    expect(resolve("198.51.100.9", "1.1.1.1", trust)).toBe("198.51.100.9");
    // Garbage reported by a trusted proxy: attributed to that proxy, not to a value the client chose.
    expect(resolve("10.0.0.1", "1.1.1.1, not-an-ip", trust)).toBe("10.0.0.1");
  });

  it("counts hops from the right", () => {
    expect(resolve("10.0.0.1", "6.6.6.6, 198.51.100.4", 1)).toBe("198.51.100.4");
    expect(resolve("10.0.0.1", "6.6.6.6, 198.51.100.4, 10.0.0.2", 2)).toBe("198.51.100.4");
    expect(resolve("10.0.0.1", "198.51.100.4", 5)).toBe("198.51.100.4");
  });

  it("refuses trust settings that would let a client choose its address", () => {
    expect(() => compileTrustProxy(true as unknown as number)).toThrow(/hop count or a list/);
    expect(() => compileTrustProxy(-1)).toThrow(/whole number/);
    expect(() => compileTrustProxy(["10.0.0.0/8", "nope"])).toThrow(/"nope"/);
  });
});

describe("key templates", () => {
  const values = (user?: string, headers: Record<string, string> = {}): RequestValues => ({
    ip: "192.0.2.1",
    method: "POST",
    path: "/login",
    user,
    header: (name) => headers[name],
  });

  it("fills every placeholder", () => {
    const t = new KeyTemplate("k:<ip>:<method>:<path>:<header:X-Tenant>:<user>");
    expect(t.fill(values("bob", { "x-tenant": "acme" }))).toBe("k:192.0.2.1:POST:/login:acme:bob");
    expect(t.fill(values("bob"))).toBeUndefined();
  });

  it("leaves out keys with a missing value while others remain, else falls back to the IP", () => {
    const templates = [new KeyTemplate("login:ip:<ip>"), new KeyTemplate("login:user:<user>")];
    expect(fillKeys(templates, values("bob"))).toEqual(["login:ip:192.0.2.1", "login:user:bob"]);
    expect(fillKeys(templates, values())).toEqual(["login:ip:192.0.2.1"]);
    expect(fillKeys([new KeyTemplate("u:<user>")], values())).toEqual(["u:192.0.2.1"]);
  });

  it("rejects unknown placeholders when created", () => {
    expect(() => new KeyTemplate("api:<tenant>")).toThrow(/unknown placeholder <tenant>/);
  });
});

describe("headers", () => {
  const decision = (name: string, over: Partial<Decision> = {}): Decision => ({
    allowed: true,
    key: name,
    limiter: name,
    limit: 100,
    remaining: 41.7,
    resetAfterMs: 17_001,
    retryAfterMs: 0,
    policy: { name, quota: 100, windowSeconds: 60 },
    ...over,
  });

  it("serializes names as sf-strings that parse back to the same text", () => {
    for (const name of ['a"b', "back\\slash", "api:<tenant>", "tab\there"]) {
      expect(typeof parseItem(sfString(name))[0]).toBe("string");
    }
    expect(parseItem(sfString('a"b\\c'))[0]).toBe('a"b\\c');
    // Outside printable ASCII: percent-encoded, still a valid sf-string.
    expect(parseItem(sfString("zähler"))[0]).toBe("z%C3%A4hler");
  });

  it("writes one list member per limiter, whole numbers, t rounded up", () => {
    const composite = decision("a", {
      results: [decision("a"), decision("conc", { policy: { name: "conc", quota: 2 }, remaining: 1 })],
    });
    const headers = Object.fromEntries(rateLimitHeaders(composite, "draft-10"));
    expect(headers["RateLimit-Policy"]).toBe('"a";q=100;w=60, "conc";q=2');
    expect(headers.RateLimit).toBe('"a";r=41;t=18, "conc";r=1;t=18');
    expect(parseList(headers.RateLimit!)).toHaveLength(2);
  });

  it("leaves out members whose store failed", () => {
    const failed = decision("a", { degraded: "store-error" });
    expect(rateLimitHeaders(failed, "both")).toEqual([]);
  });

  it("rounds Retry-After up, at least 1, none when no retry can succeed", () => {
    expect(retryAfterSeconds(1)).toBe(1);
    expect(retryAfterSeconds(0)).toBe(1);
    expect(retryAfterSeconds(1001)).toBe(2);
    expect(retryAfterSeconds(Number.POSITIVE_INFINITY)).toBeUndefined();
  });

  it("names only the members that denied as violated policies", () => {
    const refused = decision("b", {
      allowed: false,
      retryAfterMs: 2500,
      results: [decision("a"), decision("b", { allowed: false, retryAfterMs: 2500 })],
    });
    expect(problemDetails(refused)).toMatchObject({ status: 429, "violated-policies": ["b"] });
  });
});

describe("options", () => {
  it("are validated when the middleware is created", () => {
    const make = (options: Record<string, unknown>) => () =>
      new RequestLimiter({ key: "api:<ip>", ...options } as ConstructorParameters<typeof RequestLimiter>[0]);
    expect(make({ key: [] })).toThrow(/key/);
    expect(make({ headers: "draft-7" })).toThrow(/headers/);
    expect(make({ ipv6Subnet: 129 })).toThrow(/ipv6Subnet/);
    expect(make({ cost: 0 })).toThrow(/cost/);
    expect(make({ wait: "soon" })).toThrow(/wait/);
    expect(make({ exempt: ["10.0.0.0/99"] })).toThrow(/exempt/);
    expect(make({ wait: "2s", trustProxy: ["loopback"], headers: "both" })).not.toThrow();
  });
});
