import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { configSchemaJson } from "../../src/config/describe.ts";
import { RateSync } from "../../src/index.ts";
import { requireRedis, uniqueName } from "../helpers/stores.ts";
import { deleteByPrefix } from "../stores/redis/setup.ts";

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

  it("--version and -v print the package version (#14.7)", async () => {
    const { version } = JSON.parse(
      readFileSync(resolve(import.meta.dirname, "../../package.json"), "utf8"),
    ) as {
      version: string;
    };
    for (const flag of ["--version", "-v"]) {
      const { code, stdout } = await cli([flag]);
      expect(code).toBe(0);
      expect(stdout).toBe(`${version}\n`);
    }
  }, 60_000);

  it("usage errors exit 2 naming the flag or the extra argument, never read as a file (#14.7)", async () => {
    const typo = await cli(["check", good, "--jsn"]);
    expect(typo.code).toBe(2);
    expect(typo.stdout).toBe("");
    expect(typo.stderr).toContain('rate-sync: unknown option "--jsn"; did you mean "--json"?');
    const extra = await cli(["check", good, "extra"]);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toContain('too many arguments for check: "extra"');
    const explainExtra = await cli(["explain", "api:acme", good, "more", "args"]);
    expect(explainExtra.code).toBe(2);
    expect(explainExtra.stderr).toContain('too many arguments for explain: "more", "args"');
    expect((await cli(["explain"])).stderr).toContain("explain needs <key>");
    expect((await cli(["sql", good, "--json"])).code).toBe(2);
    const command = await cli(["chekc", good]);
    expect(command.code).toBe(2);
    expect(command.stderr).toContain('unknown command "chekc"; did you mean "check"?');
    // After --, an argument starting with "-" is a key, not an option.
    const dashed = write("dashed.toml", `[limiters."-odd"]\nrate = "1/s"\n`);
    expect((await cli(["explain", "--", "-odd", dashed])).code).toBe(0);
  }, 60_000);

  it("check --json prints the issues as JSON on stdout and exits 1 (#14.7)", async () => {
    const bad = write(
      "bad-json.toml",
      `[limiters.api]\nrate = "10/Min"\n\n[limiters.b]\nrate = "1/s"\nbrust = 2\n`,
    );
    const { code, stdout, stderr } = await cli(["check", bad, "--json"]);
    expect(code).toBe(1);
    expect(stderr).toBe("");
    const parsed = JSON.parse(stdout) as { ok: boolean; error: { code: string }; issues: object[] };
    expect(parsed.ok).toBe(false);
    expect(parsed.error.code).toBe("CONFIG_INVALID");
    expect(parsed.issues).toEqual([
      {
        code: "invalid_value",
        file: "bad-json.toml",
        line: 2,
        column: 1,
        path: "limiters.api.rate",
        keys: ["limiters", "api", "rate"],
        message: 'invalid rate "10/Min": units are lower case; did you mean "10/min"?',
      },
      {
        code: "unknown_key",
        file: "bad-json.toml",
        line: 6,
        column: 1,
        path: "limiters.b.brust",
        keys: ["limiters", "b", "brust"],
        message: 'unknown key "brust" in a limiter; did you mean "burst"?',
      },
    ]);
    const ok = JSON.parse((await cli(["check", good, "--json"])).stdout) as { ok: boolean };
    expect(ok.ok).toBe(true);
    const unknownKey = await cli(["explain", "nothing", good, "--json"]);
    expect(unknownKey.code).toBe(1);
    expect(JSON.parse(unknownKey.stdout)).toMatchObject({ ok: false, error: { code: "UNKNOWN_LIMITER" } });
  }, 60_000);

  it("config mistakes get plain messages: engine did-you-mean, lower-case units, unterminated strings (#14.7)", async () => {
    const engine = await cli([
      "check",
      write("engin.toml", `[stores.r]\nengin = "redis"\nurl = "redis://h"\n`),
    ]);
    expect(engine.code).toBe(1);
    expect(engine.stderr).toContain(
      'engin.toml:2:1 stores.r.engin: unknown key "engin" in a store; did you mean "engine"?',
    );
    const units = await cli([
      "check",
      write("units.toml", `[limiters.a]\nalgorithm = "fixed_window"\nlimit = 1\nwindow = "1M"\n`),
    ]);
    expect(units.stderr).toContain('invalid duration "1M": units are lower case; did you mean "1m"?');
    const unclosed = await cli([
      "check",
      write("unclosed.toml", `[limiters.a]\nrate = "10/min\nburst = 3\n`),
    ]);
    expect(unclosed.code).toBe(1);
    expect(unclosed.stderr).toMatch(/^unclosed\.toml:2:8: invalid TOML: unterminated string starting at 2:8/);
    expect(unclosed.stderr).not.toMatch(/control characters/);
  }, 60_000);

  it("check and explain show what was written, then what it works out to (#14.7, #14.9)", async () => {
    const file = write(
      "written.toml",
      `[limiters.login]\nrate = "2/min"\n\n[limiters.upload]\nmax_concurrent = 10\ntimeout = 300.0\n\n` +
        `[limiters.py]\nrate_per_second = 0.5\nburst = 4\n\n[limiters."api:<tenant>"]\nrate = "1000/min"\n`,
    );
    const { code, stdout } = await cli(["check", file]);
    expect(code).toBe(0);
    expect(stdout).toContain(
      '  login: token_bucket rate="2/min" (0.0333333/s, one every 30s) burst=2 (default) ',
    );
    // rate-sync (Python)'s upload example: the lease follows the 5-minute timeout.
    expect(stdout).toContain("  upload: max_concurrent=10 lease=5m (default: the timeout, at least 1m) ");
    expect(stdout).toContain("timeout=300 (5m)");
    expect(stdout).toContain("  py: token_bucket rate_per_second=0.5 (0.5/s, one every 2s) burst=4 ");
    expect(stdout).not.toMatch(/intervalMs|59\.999/);

    const clone = await cli(["explain", "login:extra", file]);
    expect(clone.code).toBe(0);
    expect(clone.stdout).toContain('"login:extra" → limiter "login"');
    expect(clone.stdout).toContain('a separate "base:rest" clone of limiter "login" for "extra"');
    expect(clone.stdout).toContain('rate="2/min" (0.0333333/s, one every 30s)');
    const template = await cli(["explain", "api:acme", file]);
    expect(template.stdout).toContain('template "api:<tenant>" with tenant="acme"');
    expect(template.stdout).toContain('rate="1000/min" (16.6667/s)');
    expect(template.stdout).not.toMatch(/intervalMs|59\.999/);
    const json = JSON.parse((await cli(["explain", "login:extra", file, "--json"])).stdout) as object;
    expect(json).toMatchObject({
      key: "login:extra",
      limiter: "login",
      resolution: { kind: "clone", base: "login", rest: "extra" },
      definition: { rate: "2/min" },
    });
  }, 60_000);

  it("inspect on an unreachable store names the store, its masked URL and the cause, on Redis and PostgreSQL (#14.7)", async () => {
    const port = await closedPort();
    const file = write(
      "down.toml",
      `[stores.cache]\nengine = "redis"\nurl = "redis://:topsecret@127.0.0.1:${port}/0"\n\n` +
        `[stores.db]\nengine = "postgres"\nurl = "postgres://app:hunter2@127.0.0.1:${port}/test"\n\n` +
        `[limiters.r]\nstore = "cache"\nrate = "1/s"\n\n[limiters.p]\nstore = "db"\nrate = "1/s"\n`,
    );
    const redis = await cli(["inspect", "r", file]);
    expect(redis.code).toBe(1);
    expect(redis.stderr).toBe(
      `rate-sync: store "cache" (redis://:****@127.0.0.1:${port}/0) is unreachable: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    );
    const postgres = await cli(["inspect", "p", file]);
    expect(postgres.code).toBe(1);
    expect(postgres.stderr).toBe(
      `rate-sync: store "db" (postgres://app:****@127.0.0.1:${port}/test) is unreachable: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    );
    const json = await cli(["inspect", "r", file, "--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { code: "STORE_ERROR" } });
    expect(`${redis.stderr}${postgres.stderr}${json.stdout}`).not.toMatch(/topsecret|hunter2|max retries/);
  }, 60_000);
});

const redisGate = await requireRedis();

describe.skipIf(!redisGate.available)("rate-sync clear on a real Redis", () => {
  const prefix = uniqueName("cli_clear");
  const file = write(
    "clear.toml",
    `[stores.cache]\nengine = "redis"\nurl = "${redisGate.url}"\nkey_prefix = "${prefix}"\n\n` +
      `[limiters."api:<userId>"]\nstore = "cache"\nalgorithm = "fixed_window"\nlimit = 1\nwindow = "1h"\n\n` +
      `[limiters."apix:<id>"]\nstore = "cache"\nalgorithm = "fixed_window"\nlimit = 1\nwindow = "1h"\n\n` +
      `[stores.local]\nengine = "memory"\n\n[limiters.mem]\nstore = "local"\nrate = "1/s"\n`,
  );

  afterAll(async () => {
    const raw = new Redis(redisGate.url);
    try {
      await deleteByPrefix(raw, prefix);
    } finally {
      raw.disconnect();
    }
  });

  it("refuses without --yes (exit 2, nothing deleted), clears with it, and names the limiter of a key", async () => {
    const rs = await RateSync.fromFile(file, { quiet: true });
    try {
      for (const key of ["api:42", "api:7", "apix:1"]) expect((await rs.tryAcquire(key)).allowed).toBe(true);

      const refused = await cli(["clear", "api:<userId>", file]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toBe(
        `rate-sync: clear forgets the usage and leases of every key of limiter "api:<userId>" in store "cache" (redis), for every process that shares it; run again with --yes to confirm (usage: rate-sync clear <id> [file] --yes [--json])\n`,
      );
      // Read with peek, which asks the store: a denial would go to this process's over-limit cache, which a clear
      // made by another process cannot reach (see the README).
      expect((await rs.peek("api:42")).remaining).toBe(0);

      const done = await cli(["clear", "api:<userId>", file, "--yes"]);
      expect(done).toMatchObject({ code: 0, stderr: "" });
      expect(done.stdout).toBe('cleared 2 keys of limiter "api:<userId>" in store "cache" (redis)\n');
      expect((await rs.peek("api:42")).remaining).toBe(1);
      expect((await rs.peek("api:7")).remaining).toBe(1);
      expect((await rs.peek("apix:1")).remaining).toBe(0);

      const json = await cli(["clear", "apix:<id>", file, "--yes", "--json"]);
      expect(JSON.parse(json.stdout)).toEqual({ ok: true, limiter: "apix:<id>", store: "cache", cleared: 1 });

      const key = await cli(["clear", "api:42", file, "--yes"]);
      expect(key.code).toBe(1);
      expect(key.stderr).toBe(
        'rate-sync: "api:42" is a key of limiter "api:<userId>", not a limiter id: clear "api:<userId>" forgets every key of that limiter\n',
      );
      const memory = await cli(["clear", "mem", file, "--yes"]);
      expect(memory.code).toBe(1);
      expect(memory.stderr).toMatch(/memory store "local": its state lives in each process that uses it/);
      const other = await cli(["check", file, "--yes"]);
      expect(other.code).toBe(2);
      expect(other.stderr).toMatch(/^rate-sync: check does not take --yes/);
    } finally {
      await rs.close();
    }
  }, 60_000);
});

/** A local port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  await new Promise((done) => server.close(done));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}
