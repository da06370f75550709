/**
 * The CLI and the two features: `explain` and `check` say what `[lists]` does to a key, and `rate-sync top`
 * prints the heavy hitters a running instance exported with `rs.topKeysSnapshot()` (a file, or standard
 * input), as text or JSON, hashes for `hash_keys` limiters.
 */

import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/commands.ts";
import { RateSync } from "../../src/index.ts";

const run = promisify(execFile);
const CLI = resolve(import.meta.dirname, "../../src/cli/main.ts");
const TSX = pathToFileURL(resolve(import.meta.dirname, "../../node_modules/tsx/dist/loader.mjs")).href;
const dir = mkdtempSync(join(tmpdir(), "rate-sync-cli-lists-"));

async function cli(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", TSX, CLI, ...args], {
      cwd: dir,
      env: { ...process.env, RATE_SYNC_CONFIG: "" },
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

const CONFIG = `
[lists]
allow = ["internal:*", "10.0.0.0/8"]
deny = ["api:evil-tenant"]
deny_status = 429

[limiters."api:<tenant>"]
algorithm = "fixed_window"
limit = 1
window = "1h"

[limiters."login:<user>"]
algorithm = "fixed_window"
limit = 1
window = "1h"
hash_keys = true

[limiters."internal:<service>"]
rate = "10/s"
`;
const config = write("lists.toml", CONFIG);

describe("rate-sync explain and check with [lists]", () => {
  it("explain says a key on the deny list is refused without the store, with its HTTP status", async () => {
    const { code, stdout } = await cli(["explain", "api:evil-tenant", config]);
    expect(code).toBe(0);
    expect(stdout).toContain(
      "lists: on the deny list: refused at once without asking the store (retryAfterMs = Infinity, HTTP 429)",
    );
    const allowed = await cli(["explain", "internal:billing", config, "--json"]);
    expect(JSON.parse(allowed.stdout)).toMatchObject({ limiter: "internal:<service>", list: "allow" });
    const plain = await cli(["explain", "api:acme", config, "--json"]);
    expect(JSON.parse(plain.stdout)).toMatchObject({ limiter: "api:<tenant>", list: null });
    expect((await cli(["explain", "api:acme", config])).stdout).not.toContain("lists:");
  });

  it("check lists the entries", async () => {
    const { code, stdout } = await cli(["check", config]);
    expect(code).toBe(0);
    expect(stdout).toContain("Lists: deny_status=429");
    expect(stdout).toContain('  allow (2): "internal:*" "10.0.0.0/8"');
    expect(stdout).toContain('  deny (1): "api:evil-tenant"');
    const json = JSON.parse((await cli(["check", config, "--json"])).stdout);
    expect(json.lists).toEqual({
      allow: ["internal:*", "10.0.0.0/8"],
      deny: ["api:evil-tenant"],
      denyStatus: 429,
    });
  });

  it("check reports a malformed CIDR with its file, line and key", async () => {
    const bad = write("bad-lists.toml", '[limiters.a]\nrate = "1/s"\n\n[lists]\ndeny = ["10.0.0.0/40"]\n');
    const { code, stderr } = await cli(["check", bad]);
    expect(code).toBe(1);
    expect(stderr).toContain(
      'bad-lists.toml:5:1 lists.deny: item 0: "10.0.0.0/40" is not a valid CIDR range: the prefix length must be a whole number from 0 to 32, got "40"',
    );
  });
});

describe("rate-sync top", () => {
  async function snapshotFile(): Promise<string> {
    const rs = RateSync.fromToml(CONFIG);
    for (let i = 0; i < 4; i++) await rs.tryAcquire("api:acme");
    for (let i = 0; i < 2; i++) await rs.tryAcquire("api:evil-tenant");
    for (let i = 0; i < 3; i++) await rs.tryAcquire("login:bob@example.com");
    const file = write("top.json", JSON.stringify(rs.topKeysSnapshot(20)));
    await rs.close();
    return file;
  }

  it("prints the keys denied most per limiter, hashes for hash_keys", async () => {
    const file = await snapshotFile();
    const { code, stdout } = await cli(["top", file]);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^Keys denied most in the last 5 minutes \(each denial weighs exp\(-age \/ 5 min\)\), as of /,
    );
    expect(stdout).toMatch(
      /"api:<tenant>"\n\s+count\s+±\s+key\n\s+3\s+exact\s+api:acme\n\s+2\s+exact\s+api:evil-tenant/,
    );
    expect(stdout).toContain('"login:<user>" (hash_keys: SHA-256 of each key)');
    expect(stdout).not.toContain("bob");
    const one = JSON.parse((await cli(["top", file, "login:<user>", "--json"])).stdout);
    expect(Object.keys(one.limiters)).toEqual(["login:<user>"]);
    expect(one.limiters["login:<user>"].keys[0]).toMatchObject({ count: 2, error: 0 });
  });

  it("reads standard input with -", async () => {
    const file = await snapshotFile();
    const { readFileSync } = await import("node:fs");
    const out: string[] = [];
    const code = await runCli(["top", "-", "api:<tenant>"], {
      stdout: { write: (t: string) => out.push(t) },
      stderr: { write: (t: string) => out.push(t) },
      env: {},
      stdin: [readFileSync(file)],
    });
    expect(code).toBe(0);
    expect(out.join("")).toContain("api:acme");
    expect(out.join("")).not.toContain("login:<user>");
  });

  it("fails clearly on a file that is not a snapshot, or a limiter it does not hold", async () => {
    const junk = write("junk.json", '{"hello": 1}');
    const bad = await cli(["top", junk]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("junk.json is not a top-keys snapshot of version 1");
    const file = await snapshotFile();
    const missing = await cli(["top", file, "nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(
      'has no denials of limiter "nope" (limiters with denials: api:<tenant>, login:<user>)',
    );
    expect((await cli(["top"])).code).toBe(2);
  });
});
