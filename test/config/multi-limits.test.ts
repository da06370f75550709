/** `limits = [...]` in the config: what it normalizes to, and the errors that name the item and key at fault. */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stateTag } from "../../src/algorithms/registry.ts";
import { describeLimiter } from "../../src/config/describe.ts";
import { ConfigError, loadConfig, parseConfigObject, parseConfigText } from "../../src/index.ts";

/** The messages of the issues a config object is refused with. */
function issuesOf(limiter: Record<string, unknown>): string[] {
  try {
    parseConfigObject({ limiters: { api: limiter } });
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  throw new Error("the config was accepted");
}

describe("limits = [...]", () => {
  const dir = mkdtempSync(join(tmpdir(), "rate-sync-limits-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("normalizes every limit, each with its own policy and state", () => {
    const snapshot = parseConfigText(`
[limiters."api:<tenant>"]
limits = [
  { rate = "10/s", burst = 20 },
  { algorithm = "fixed_window", limit = 10000, window = "1d", name = "daily" },
]
max_concurrent = 4
`);
    const config = snapshot.limiters.get("api:<tenant>")!;
    expect(config.limits?.map((l) => l.rate)).toEqual([
      { kind: "token_bucket", intervalMs: 100, burst: 20 },
      { kind: "fixed_window", limit: 10_000, windowMs: 86_400_000, part: 1 },
    ]);
    expect(config.limits?.map((l) => l.policy)).toEqual([
      { name: "api:<tenant>/1", quota: 20, windowSeconds: 2 },
      { name: "api:<tenant>/daily", quota: 10_000, windowSeconds: 86_400 },
    ]);
    // The first limit is the limiter's rate part, with the state a single rate part has (no part index).
    expect(config.rate).toBe(config.limits?.[0]?.rate);
    expect(config.policy).toBe(config.limits?.[0]?.policy);
    expect(config.concurrency?.maxConcurrent).toBe(4);
    const tags = config.limits!.map((l) => stateTag(l.rate));
    expect(new Set(tags).size).toBe(2);
    expect(tags[0]).toBe(stateTag({ kind: "token_bucket", intervalMs: 100, burst: 20 }));
  });

  it("keeps limits with the same algorithm and window apart", () => {
    const snapshot = parseConfigObject({
      limiters: {
        api: {
          limits: [
            { algorithm: "fixed_window", limit: 5, window: "1h" },
            { algorithm: "fixed_window", limit: 3, window: "1h" },
          ],
        },
      },
    });
    const [a, b] = snapshot.limiters.get("api")!.limits!;
    expect(stateTag(a!.rate)).not.toBe(stateTag(b!.rate));
  });

  it("refuses rate keys beside limits, naming each", () => {
    expect(issuesOf({ rate: "1/s", burst: 2, limits: [{ rate: "1/s" }] })).toEqual([
      'limiters.api.rate: "rate" conflicts with "limits": with "limits", write every rate limit in it',
      'limiters.api.burst: "burst" conflicts with "limits": with "limits", write every rate limit in it',
    ]);
  });

  it("names the item and the key of a bad limit", () => {
    expect(issuesOf({ limits: [{ rate: "1/s" }, { limit: 3 }] })).toEqual([
      'limiters.api.limits[1].limit: "limit" does not apply to algorithm "token_bucket" (the default); it belongs to fixed_window, sliding_window, sliding_window_counter; set "algorithm" to use it',
    ]);
    expect(issuesOf({ limits: [{ rate: "1/s" }, { algorithm: "sliding_window", limit: 3 }] })).toEqual([
      'limiters.api.limits[1]: missing "window" (or "window_seconds"): a sliding_window limiter needs "limit" and "window"',
    ]);
    expect(issuesOf({ limits: [{ name: "x" }] })).toEqual([
      'limiters.api.limits[0]: a limit needs "rate" (or "rate_per_second"), or "limit" with "window" (and an algorithm)',
    ]);
    expect(issuesOf({ limits: [{ rate: "nope" }] })[0]).toMatch(
      /^limiters\.api\.limits\[0\]\.rate: invalid rate "nope"/,
    );
    expect(issuesOf({ limits: [{ rate: "1/s", brust: 2 }] })[0]).toMatch(
      /^limiters\.api\.limits\[0\]\.brust: /,
    );
    expect(issuesOf({ limits: [{ rate: "1/s", burst: 1e9 }] })[0]).toMatch(
      /^limiters\.api\.limits\[0\]\.burst: the bucket takes .* to refill/,
    );
  });

  it("refuses duplicate names, an empty list and too many limits", () => {
    expect(
      issuesOf({
        limits: [
          { rate: "1/s", name: "a" },
          { rate: "2/s", name: "a" },
        ],
      }),
    ).toEqual(['limiters.api.limits[1].name: two limits are named "a"; each needs its own name']);
    expect(issuesOf({ limits: [] })).toEqual(["limiters.api.limits: list at least one limit"]);
    expect(issuesOf({ limits: Array.from({ length: 9 }, () => ({ rate: "1/s" })) })).toEqual([
      "limiters.api.limits: list at most 8 limits",
    ]);
  });

  it("points at the line of limits in the file", async () => {
    const file = join(dir, "bad.toml");
    writeFileSync(
      file,
      '[limiters.api]\nlimits = [\n  { rate = "1/s" },\n  { limit = 0, algorithm = "fixed_window", window = "1m" },\n]\n',
    );
    const error = await loadConfig(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const [issue] = (error as ConfigError).issues;
    expect(issue?.path).toBe("limiters.api.limits[1].limit");
    expect(issue?.keys).toEqual(["limiters", "api", "limits", "[1]", "limit"]);
    expect(issue?.line).toBe(2);
  });

  it("explains each limit under its policy name", () => {
    const snapshot = parseConfigObject({
      limiters: {
        api: {
          limits: [{ rate: "10/s" }, { algorithm: "fixed_window", limit: 100, window: "1h", name: "hourly" }],
        },
      },
    });
    const text = describeLimiter(
      snapshot.limiters.get("api")!,
      snapshot.definitions.get("api")!,
      snapshot.defaults,
    );
    expect(text).toContain('[api/1: token_bucket rate="10/s"');
    expect(text).toContain('[api/hourly: fixed_window limit=100 window="1h"');
  });
});
