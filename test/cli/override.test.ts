/**
 * `rate-sync override set|unset|list|history` and the override layer of `rate-sync explain`, run as a user runs
 * them (separate processes) on a config whose `[overrides]` store is the test Redis (a unique key prefix).
 */

import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { requireRedis, uniqueName } from "../helpers/stores.ts";
import { deleteByPrefix } from "../stores/redis/setup.ts";

const redis = await requireRedis();
const run = promisify(execFile);
const CLI = resolve(import.meta.dirname, "../../src/cli/main.ts");
const TSX = pathToFileURL(resolve(import.meta.dirname, "../../node_modules/tsx/dist/loader.mjs")).href;
const dir = mkdtempSync(join(tmpdir(), "rate-sync-override-cli-"));
const prefix = uniqueName("override_cli");
const file = join(dir, "rate-sync.toml");
writeFileSync(
  file,
  `
[stores.main]
engine = "redis"
url = "${redis.url}"
key_prefix = "${prefix}"

[overrides]
store = "main"

[limiters."api:<tenant>"]
rate = "100/s"
`,
);

async function cli(...args: string[]) {
  return cliWith(file, ...args);
}

async function cliWith(config: string, ...args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", TSX, CLI, ...args], {
      cwd: dir,
      env: { ...process.env, RATE_SYNC_CONFIG: config, USER: "alice" },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe.skipIf(!redis.available)("rate-sync override", () => {
  afterAll(async () => {
    const raw = new Redis(redis.url);
    await deleteByPrefix(raw, prefix);
    raw.disconnect();
  });

  it("sets, lists, explains, refuses a bad one, unsets, and keeps the history", async () => {
    const set = await cli("override", "set", "api:acme", "rate=500/s", "--ttl", "2h", "--reason", "INC-42");
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(
      /^set "api:acme" rate=500\/s, by alice at .*, expires .* \(in 2h0m\), reason "INC-42"/,
    );

    const list = await cli("override", "list");
    expect(list.stdout).toMatch(/"api:acme" rate=500\/s, by alice at .*\(in (2h0m|1h59m)\), reason "INC-42"/);
    const listed = JSON.parse((await cli("override", "list", "--json")).stdout);
    expect(listed.overrides).toMatchObject([
      { id: "api:acme", patch: { rate: "500/s" }, by: "alice", reason: "INC-42" },
    ]);

    const explain = await cli("explain", "api:acme");
    expect(explain.stdout).toContain('rate="500/s"');
    expect(explain.stdout).toMatch(/rate = "500\/s" {2}← override "api:acme"/);
    const other = JSON.parse((await cli("explain", "api:other", "--json")).stdout);
    expect(other.sources).toEqual({ rate: "file" });
    expect(other.config.policy.quota).toBe(100);

    const bad = await cli("override", "set", "api:acme", "rate=fast");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('overrides."api:acme".rate: invalid rate "fast"');
    const nothing = await cli("override", "set", "nothing", "burst=3");
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toContain("no limiter, template or key pattern matches");
    expect((await cli("override", "set", "api:acme")).code).toBe(2);

    const unset = await cli("override", "unset", "api:acme", "--reason", "resolved");
    expect(unset.stdout).toContain('unset "api:acme"');
    expect((await cli("override", "list")).stdout).toContain("no overrides");
    const history = (await cli("override", "history")).stdout.trim().split("\n");
    expect(history[0]).toMatch(/^#2 .* unset "api:acme" by alice reason "resolved"$/);
    expect(history[1]).toMatch(/^#1 .* set "api:acme" rate=500\/s by alice reason "INC-42"$/);
  }, 60_000);

  it("names the store, its URL masked, and the cause when the store is down", async () => {
    const down = join(dir, "down.toml");
    writeFileSync(
      down,
      `[stores.main]\nengine = "redis"\nurl = "redis://:s3cret@127.0.0.1:1/0"\n[overrides]\nstore = "main"\n[limiters."api:<tenant>"]\nrate = "100/s"\n`,
    );
    const result = await cliWith(down, "override", "list");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('store "main" (redis://:****@127.0.0.1:1/0) is unreachable');
    expect(result.stderr).toContain("(the overrides could not be read or written)");
    expect(result.stderr).not.toContain("s3cret");
  }, 60_000);
});
