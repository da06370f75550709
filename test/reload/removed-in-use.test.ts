/**
 * #13.8: a valid reload that removes a limiter still in use (a renamed template). The reload applies (it is
 * valid) but warns: a `reloadWarning` event naming the removed limiters that took calls in the last minute,
 * and a notice when nobody listens. The route behind it answers a problem+json 500 (not Express's HTML page
 * with a stack trace); test/http covers every adapter.
 */

import type { AddressInfo } from "node:net";
import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import { rateLimit } from "../../src/http/express.ts";
import { type NoticeLogger, RateSync, type ReloadWarningEvent } from "../../src/index.ts";
import { ConfigFile, removeDir, tempDir } from "./files.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const BEFORE = `
[limiters."api:<ip>"]
rate = "100/min"

[limiters.unused]
rate = "1/s"

[limiters.kept]
rate = "1/s"
`;
// The template renamed, `unused` dropped, `kept` kept.
const AFTER = `
[limiters."public-api:<ip>"]
rate = "100/min"

[limiters.kept]
rate = "1/s"
`;

async function instance(logger?: NoticeLogger) {
  const dir = tempDir();
  cleanups.push(() => removeDir(dir));
  const file = new ConfigFile(dir, "atomic-rename", BEFORE);
  const rs = await RateSync.fromFile(file.path, logger ? { logger } : {});
  cleanups.push(() => rs.close());
  return { rs, file };
}

describe("a reload that removes a limiter in use", () => {
  it("applies, and warns with a reloadWarning naming only the removed limiters that took calls", async () => {
    const { rs, file } = await instance();
    const warnings: ReloadWarningEvent[] = [];
    rs.on("reloadWarning", (event) => warnings.push(event));
    await rs.tryAcquire("api:203.0.113.7");
    await rs.tryAcquire("kept");
    file.save(AFTER);
    const event = await rs.reload();
    expect([...event.removed].sort()).toEqual(["api:<ip>", "unused"]);
    expect(warnings).toEqual([
      {
        kind: "removed-in-use",
        limiters: ["api:<ip>"],
        message: expect.stringContaining(`removed limiter "api:<ip>", which took calls in the last minute`),
      },
    ]);
    await expect(rs.tryAcquire("api:203.0.113.7")).rejects.toThrow(/No limiter or template matches/);
  });

  it("says nothing when the removed limiters took no calls", async () => {
    const { rs, file } = await instance();
    const warnings: ReloadWarningEvent[] = [];
    rs.on("reloadWarning", (event) => warnings.push(event));
    file.save(AFTER);
    await rs.reload();
    expect(warnings).toEqual([]);
  });

  it("writes a notice when nobody listens; the route answers a problem+json 500", async () => {
    const lines: string[] = [];
    const logger = { warn: (line: string) => lines.push(line), error: (line: string) => lines.push(line) };
    const { rs, file } = await instance(logger);
    const app = express();
    app.use(rateLimit({ rs, key: "api:<ip>" }));
    app.get("/x", (_req, res) => void res.send("ok"));
    const server = app.listen(0, "127.0.0.1");
    await new Promise<void>((resolve) => server.once("listening", resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;

    expect((await fetch(url)).status).toBe(200);
    file.save(AFTER);
    await rs.reload();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^rate-sync: the reload of .* removed limiter "api:<ip>", which took calls/);

    const response = await fetch(url);
    expect(response.status).toBe(500);
    expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    const text = await response.text();
    expect(JSON.parse(text)).toMatchObject({ status: 500, title: "Internal Server Error" });
    expect(text).not.toMatch(/<!DOCTYPE|UnknownLimiterError|at |api:/);
    // The unknown key is a notice too (nobody listens to unknownLimiter), without the client's address.
    expect(lines[1]).toMatch(
      /^rate-sync: No limiter or template matches the key "api:…" in .*rate-sync\.toml/,
    );
    expect(lines.join("\n")).not.toContain("127.0.0.1");
  });
});
