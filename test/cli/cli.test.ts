import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { configSchemaJson } from "../../src/config/describe.ts";

const run = promisify(execFile);
const CLI = resolve(import.meta.dirname, "../../src/cli/main.ts");
// The TypeScript loader by absolute URL: the CLI runs from a temp directory, where a bare `tsx` would not resolve.
const TSX = pathToFileURL(resolve(import.meta.dirname, "../../node_modules/tsx/dist/loader.mjs")).href;
const dir = mkdtempSync(join(tmpdir(), "rate-sync-cli-"));

/** Runs the CLI as a user would (a separate process); never rejects, returns the exit code and output. */
async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", TSX, CLI, ...args], {
      cwd: dir,
      env: { ...process.env, RATE_SYNC_CONFIG: "", ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const good = write(
  "good.toml",
  `
[stores.cache]
engine = "redis"
url = "redis://:topsecret@127.0.0.1:6379/0"

[stores.db]
engine = "postgres"
url = "postgres://app:hunter2@127.0.0.1:5432/test"
table_name = "limits"

[limiters."api:<tenant>"]
store = "cache"
rate = "100/min"

[limiters.login]
store = "cache"
algorithm = "sliding_window"
limit = 5
window = "5m"
`,
);

describe("rate-sync CLI", () => {
  it("check prints stores with secrets masked and limiters with effective parameters", async () => {
    const { code, stdout } = await cli(["check", good]);
    expect(code).toBe(0);
    expect(stdout).toContain("redis://:****@127.0.0.1:6379/0");
    expect(stdout).toContain("postgres://app:****@127.0.0.1:5432/test");
    expect(stdout).not.toMatch(/topsecret|hunter2/);
    expect(stdout).toMatch(/api:<tenant>.*token_bucket.*burst=100/);
    expect(stdout).toMatch(/login.*sliding_window/);
  });

  it("check --json is machine readable and masked too", async () => {
    const { code, stdout } = await cli(["check", good, "--json"]);
    expect(code).toBe(0);
    const parsed = JSON.parse(stdout) as { stores: Record<string, { url: string }>; limiters: object };
    expect(parsed.stores.cache!.url).toBe("redis://:****@127.0.0.1:6379/0");
    expect(Object.keys(parsed.limiters)).toEqual(["api:<tenant>", "login"]);
  });

  it("check lists every error as file:line:col path: message and exits 1", async () => {
    const bad = write(
      "bad.toml",
      `[limiters.api]
rate = "fast"

[limiters.login]
algorithm = "sliding_windw"
limit = 5
window = "5m"
`,
    );
    const { code, stderr, stdout } = await cli(["check", bad]);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    const lines = stderr.trim().split("\n");
    expect(lines).toHaveLength(2);
    // Files are named as the user named them (relative to the working directory).
    expect(bad.endsWith("bad.toml")).toBe(true);
    expect(lines[0]).toMatch(/^bad\.toml:2:1 limiters\.api\.rate: invalid rate "fast"/);
    expect(lines[1]).toMatch(/^bad\.toml:5:1 limiters\.login\.algorithm: .*did you mean "sliding_window"/);
  });

  it("check without a file uses the search path, and says so when nothing is found", async () => {
    const none = await cli(["check"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no config file found/);
    const viaEnv = await cli(["check"], { RATE_SYNC_CONFIG: good });
    expect(viaEnv.code).toBe(0);
    const missing = await cli(["check", join(dir, "nope.toml")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("nope.toml");
  });

  it("explain tells which limiter a key resolves to", async () => {
    const { code, stdout } = await cli(["explain", "api:acme", good]);
    expect(code).toBe(0);
    expect(stdout).toContain('"api:acme" → limiter "api:<tenant>"');
    const json = await cli(["explain", "login:bob", good, "--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ key: "login:bob", limiter: "login" });
    const unknown = await cli(["explain", "nothing", good]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no limiter or template matches/);
  });

  it("inspect reports a key's state on its store, consuming nothing", async () => {
    const local = write("local.toml", `[limiters.api]\nrate = "10/s"\nburst = 20\n`);
    const { code, stdout } = await cli(["inspect", "api", local, "--json"]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ key: "api", limiter: "api", limit: 20, remaining: 20 });
  });

  it("sql prints the DDL of the postgres stores", async () => {
    const { code, stdout } = await cli(["sql", good]);
    expect(code).toBe(0);
    expect(stdout).toContain('CREATE TABLE IF NOT EXISTS "public"."limits"');
    const none = await cli(["sql", write("mem.toml", `[limiters.a]\nrate = "1/s"\n`)]);
    expect(none.code).toBe(1);
  });

  it("schema prints the committed JSON Schema; unknown commands exit 2", async () => {
    const { code, stdout } = await cli(["schema"]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual(configSchemaJson());
    expect((await cli(["frobnicate"])).code).toBe(2);
    expect((await cli(["--help"])).code).toBe(0);
  });
});
