/**
 * `[lists]` through the Express adapter, on a real server: the client address (`trustProxy`, the full address
 * rather than the /64 group of `<ip>`) is matched against the CIDR ranges; a denied client gets 403 (or the
 * `deny_status`) with a problem body and no rate limit headers, an allowed one is never limited, and the rest
 * are limited as usual.
 */

import type { AddressInfo } from "node:net";
import express from "express";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { rateLimit } from "../../src/http/express.ts";
import { RateSync } from "../../src/index.ts";
import { collectMetrics } from "../../src/prometheus/index.ts";
import { parsePrometheusText, sampleValue } from "../observability/prom-text.ts";

const LIMITS = `
[limiters."ip:<ip>"]
algorithm = "fixed_window"
limit = 1
window = "1h"
`;

async function serve(rs: RateSync): Promise<{ url: string; close(): Promise<void> }> {
  const app = express();
  // One proxy in front: the client is the last X-Forwarded-For entry.
  app.use(rateLimit({ rs, key: "ip:<ip>", trustProxy: 1 }));
  app.get("/", (_req, res) => {
    res.send("ok");
  });
  const server = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe("[lists] in the Express adapter", () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const item of open.splice(0)) await item.close();
  });

  async function start(lists: string) {
    const rs = RateSync.fromToml(lists + LIMITS);
    const server = await serve(rs);
    open.push(server, { close: () => rs.close() });
    const get = (client: string) => fetch(server.url, { headers: { "x-forwarded-for": client } });
    return { rs, get };
  }

  it("matches the client address against CIDR ranges: 403 for denied, never limited for allowed", async () => {
    const { rs, get } = await start(
      '[lists]\nallow = ["10.0.0.0/8"]\ndeny = ["203.0.113.0/24", "2001:db8:bad::/48"]\n',
    );
    for (let i = 0; i < 3; i++) expect((await get("10.1.2.3")).status).toBe(200);

    const denied = await get("203.0.113.9");
    expect(denied.status).toBe(403);
    expect(denied.headers.get("content-type")).toContain("application/problem+json");
    expect(denied.headers.get("retry-after")).toBeNull();
    expect(denied.headers.get("ratelimit")).toBeNull();
    expect(await denied.json()).toMatchObject({
      status: 403,
      title: "Forbidden",
      "violated-policies": ["ip:<ip>"],
    });

    // An IPv6 client is keyed by its /64, but the range sees its full address.
    expect((await get("2001:db8:bad:1::1")).status).toBe(403);
    expect((await get("2001:db8:600d::1")).status).toBe(200);

    // On no list: limited as usual.
    expect((await get("198.51.100.1")).status).toBe(200);
    expect((await get("198.51.100.1")).status).toBe(429);

    expect(rs.metrics().limiters["ip:<ip>"]).toMatchObject({
      allowedByList: 3,
      deniedByList: 2,
      allowed: 2,
      denied: 1,
    });
  });

  it("answers the configured deny_status", async () => {
    const { get } = await start('[lists]\ndeny = ["203.0.113.0/24"]\ndeny_status = 429\n');
    const denied = await get("203.0.113.1");
    expect(denied.status).toBe(429);
    expect(await denied.json()).toMatchObject({ status: 429, title: "Too Many Requests" });
    expect(denied.headers.get("retry-after")).toBeNull();
  });

  it("matches key globs too: a key built from the address is on the list", async () => {
    const { get } = await start('[lists]\ndeny = ["ip:192.0.2.*"]\n');
    expect((await get("192.0.2.200")).status).toBe(403);
    expect((await get("192.0.3.1")).status).toBe(200);
  });
});

describe("[lists] in the Prometheus exporter", () => {
  it("counts list decisions under their own outcomes, never with a key as a label", async () => {
    const rs = RateSync.fromToml(`[lists]\nallow = ["ip:10.*"]\ndeny = ["ip:203.0.113.9"]\n${LIMITS}`);
    const registry = new Registry();
    const unregister = collectMetrics(rs, { registry });
    await rs.tryAcquire("ip:10.0.0.1");
    await rs.tryAcquire("ip:10.0.0.2");
    await rs.tryAcquire("ip:203.0.113.9");
    await rs.tryAcquire("ip:198.51.100.1");
    const text = await registry.metrics();
    const families = parsePrometheusText(text);
    const value = (outcome: string) =>
      sampleValue(families, "ratesync_decisions_total", { limiter: "ip:<ip>", outcome });
    expect([value("allowed"), value("denied"), value("allowed_by_list"), value("denied_by_list")]).toEqual([
      1, 0, 2, 1,
    ]);
    expect(text).not.toContain("203.0.113.9");
    unregister();
    await rs.close();
  });
});
