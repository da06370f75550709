/**
 * `[lists]`: how entries match (exact keys, prefix and general globs, escapes, IPv4/IPv6 ranges), which list
 * wins, the config errors of bad entries (with file, line and key), and hot reload of the lists.
 */

import { writeFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { parseConfigText } from "../../src/config/load.ts";
import { ConfigError, formatConfigIssue, isConfigError, RateSync } from "../../src/index.ts";
import { type CompiledLists, compileLists, matchGlob, parseEntry } from "../../src/lists/key-lists.ts";
import { tempConfigFile, waitFor } from "../reload/files.ts";

function lists(allow: string[], deny: string[] = []): CompiledLists {
  return compileLists({ allow, deny })!;
}

describe("list entries", () => {
  it("sorts entries into exact keys, prefixes, globs and ranges", () => {
    expect(parseEntry("api:evil")).toEqual({ kind: "exact", key: "api:evil" });
    expect(parseEntry("internal:*")).toEqual({ kind: "prefix", prefix: "internal:" });
    expect(parseEntry("*:banned")).toEqual({ kind: "glob", parts: ["", ":banned"] });
    expect(parseEntry(String.raw`a\*b`)).toEqual({ kind: "exact", key: "a*b" });
    expect(parseEntry(String.raw`a\\*`)).toEqual({ kind: "prefix", prefix: "a\\" });
    expect(parseEntry("10.0.0.0/8")).toMatchObject({ kind: "range" });
    expect(parseEntry("203.0.113.7")).toMatchObject({ kind: "range", alsoKey: "203.0.113.7" });
  });

  it("matches globs against the whole key", () => {
    const l = lists(["internal:*", "*:banned", "a*b*c", "exact"]);
    expect(l.verdict("internal:")).toBe("allow");
    expect(l.verdict("internal:billing:eu")).toBe("allow");
    expect(l.verdict("xinternal:a")).toBeUndefined();
    expect(l.verdict("user:banned")).toBe("allow");
    expect(l.verdict("user:banned:no")).toBeUndefined();
    expect(l.verdict("abc")).toBe("allow");
    expect(l.verdict("a-b-c")).toBe("allow");
    expect(l.verdict("a-c-b")).toBeUndefined();
    expect(l.verdict("exact")).toBe("allow");
    expect(l.verdict("exactly")).toBeUndefined();
    expect(lists(["*"]).verdict("anything at all")).toBe("allow");
  });

  it("walks a glob in linear time where a regular expression would backtrack", () => {
    const parts = ["", "a", "a", "a", "a", "a", "a", "a", "b"];
    // A regular expression /^.*a.*a.*a.*a.*a.*a.*a.*b$/ takes seconds on this; the walk answers at once.
    expect(matchGlob(parts, "a".repeat(1000))).toBe(false);
    expect(matchGlob(parts, `${"a".repeat(1000)}b`)).toBe(true);
    // The parts may not overlap: "ab" is not "a*b" with an "a" and a "b" shared.
    expect(matchGlob(["ab", "ba"], "aba")).toBe(false);
    expect(matchGlob(["ab", "ba"], "abba")).toBe(true);
  });

  it("matches client addresses against IPv4 and IPv6 ranges, never keys", () => {
    const l = lists(["10.0.0.0/8", "2001:db8::/32"], ["10.6.6.0/24", "203.0.113.7"]);
    expect(l.verdict("k", "10.1.2.3")).toBe("allow");
    expect(l.verdict("k", "::ffff:10.1.2.3")).toBe("allow"); // as a dual-stack socket reports IPv4
    expect(l.verdict("k", "10.6.6.1")).toBe("deny"); // deny wins over allow
    expect(l.verdict("k", "11.0.0.1")).toBeUndefined();
    expect(l.verdict("k", "2001:db8:1::1")).toBe("allow");
    expect(l.verdict("k", "2001:db9::1")).toBeUndefined();
    expect(l.verdict("k", "203.0.113.7")).toBe("deny");
    expect(l.verdict("k", "not an address")).toBeUndefined();
    // A range never matches a key, even one that is an address; a bare address is also an exact key.
    expect(l.verdict("10.1.2.3")).toBeUndefined();
    expect(l.verdict("203.0.113.7")).toBe("deny");
  });

  it("lets the deny list win over the allow list", () => {
    const l = lists(["internal:*"], ["internal:compromised"]);
    expect(l.verdict("internal:compromised")).toBe("deny");
    expect(l.verdict("internal:ok")).toBe("allow");
  });

  it("compiles to nothing when no entry is given", () => {
    expect(compileLists({ allow: [], deny: [] })).toBeUndefined();
    expect(compileLists(undefined)).toBeUndefined();
    expect(parseConfigText('[lists]\nallow = []\n[limiters.a]\nrate = "1/s"\n').lists).toBeUndefined();
  });
});

describe("bad [lists] entries", () => {
  function issues(text: string): string[] {
    try {
      parseConfigText(text, { file: "rate-sync.toml" });
    } catch (error) {
      if (!isConfigError(error)) throw error;
      return error.issues.map(formatConfigIssue);
    }
    throw new Error("the config loaded without an error");
  }
  const limiter = '\n[limiters.a]\nrate = "1/s"\n';

  it.each([
    [
      '[lists]\ndeny = ["ok", "10.0.0.0/33"]',
      'rate-sync.toml:2:1 lists.deny: item 1: "10.0.0.0/33" is not a valid CIDR range: the prefix length must be a whole number from 0 to 32, got "33"',
    ],
    [
      '[lists]\nallow = ["10.0.0.1/8"]',
      'rate-sync.toml:2:1 lists.allow: item 0: "10.0.0.1/8" is not a valid CIDR range: it has bits set after the prefix length (write the network address, e.g. 10.0.0.0/8)',
    ],
    [
      '[lists]\ndeny = ["10.0.0.300/32"]',
      'rate-sync.toml:2:1 lists.deny: item 0: "10.0.0.300/32" is not a valid CIDR range: "10.0.0.300" is not an IPv4 or IPv6 address',
    ],
    [
      '[lists]\ndeny = ["2001:db8::/129"]',
      'rate-sync.toml:2:1 lists.deny: item 0: "2001:db8::/129" is not a valid CIDR range: the prefix length must be a whole number from 0 to 128, got "129"',
    ],
    [
      '[lists]\n\nallow = ["a", ""]',
      "rate-sync.toml:3:1 lists.allow: item 1: an empty entry matches no key; remove it",
    ],
    [
      '[lists]\nallow = [" a"]',
      'rate-sync.toml:2:1 lists.allow: item 0: " a" has spaces around it; keys are matched exactly',
    ],
    [
      String.raw`[lists]
deny = ["a\\b"]`,
      'rate-sync.toml:2:1 lists.deny: item 0: "a\\\\b": a backslash escapes only "*" or another backslash (a literal backslash is two backslashes in the glob)',
    ],
    [
      '[lists]\ndeny = "api:*"',
      'rate-sync.toml:2:1 lists.deny: expected a list of key globs and CIDR ranges, got "api:*"',
    ],
    ["[lists]\ndeny = [1]", "rate-sync.toml:2:1 lists.deny: item 0: expected a string, got 1"],
    ["[lists]\ndeny_status = 404", "rate-sync.toml:2:1 lists.deny_status: expected 403 or 429, got 404"],
    ['[lists]\nblock = ["x"]', 'rate-sync.toml:2:1 lists.block: unknown key "block" in [lists]'],
  ])("%s", (toml, message) => {
    expect(issues(toml + limiter)).toEqual([message]);
  });

  it("is a ConfigError from code too, naming the key", () => {
    expect(() =>
      RateSync.fromConfig({ lists: { deny: ["fe80::1/10"] }, limiters: { a: { rate: "1/s" } } }),
    ).toThrow(ConfigError);
    expect(() =>
      RateSync.fromConfig({ lists: { deny: ["fe80::1/10"] }, limiters: { a: { rate: "1/s" } } }),
    ).toThrow(/lists\.deny: item 0: "fe80::1\/10" is not a valid CIDR range/);
  });

  it("takes deny_status as 429, or as text from an environment variable", () => {
    const snapshot = parseConfigText(`[lists]\ndeny = ["x"]\ndeny_status = "\${STATUS}"${limiter}`, {
      env: { STATUS: "429" },
    });
    expect(snapshot.lists?.denyStatus).toBe(429);
    expect(parseConfigText(`[lists]\ndeny = ["x"]${limiter}`).lists?.denyStatus).toBe(403);
  });
});

describe("hot reload of [lists]", () => {
  let cleanup: (() => void) | undefined;
  afterEach(() => cleanup?.());

  it("swaps the lists with the rest of the config, and keeps them when an edit is invalid", async () => {
    const base = '[limiters."api:<t>"]\nalgorithm = "fixed_window"\nlimit = 100\nwindow = "1h"\n';
    const config = tempConfigFile(`[lists]\ndeny = ["api:evil"]\n${base}`);
    cleanup = config.remove;
    const rs = await RateSync.fromFile(config.file, { quiet: true });
    try {
      expect((await rs.tryAcquire("api:evil")).list).toBe("deny");
      expect((await rs.tryAcquire("api:other")).list).toBeUndefined();

      writeFileSync(config.file, `[lists]\ndeny = ["api:other"]\nallow = ["api:evil"]\n${base}`);
      expect(await rs.reload()).toEqual({ added: [], removed: [], changed: [] });
      expect((await rs.tryAcquire("api:evil")).list).toBe("allow");
      expect((await rs.tryAcquire("api:other")).list).toBe("deny");

      const errors: ConfigError[] = [];
      rs.on("reloadError", (error) => errors.push(error));
      writeFileSync(config.file, `[lists]\ndeny = ["10.0.0.0/99"]\n${base}`);
      await expect(rs.reload()).rejects.toThrow(/lists\.deny: item 0/);
      // The running lists stay.
      expect((await rs.tryAcquire("api:other")).list).toBe("deny");

      // Lists removed: every key goes to its limits again.
      writeFileSync(config.file, base);
      await rs.reload();
      expect((await rs.tryAcquire("api:other")).list).toBeUndefined();
      expect(rs.snapshot.lists).toBeUndefined();
    } finally {
      await rs.close();
    }
  });
});

describe("lists under the watcher", () => {
  it("applies a save that changes only the lists (the rest of the config is the same)", async () => {
    const base = '[limiters."api:<t>"]\nrate = "100/s"\n';
    const config = tempConfigFile(`[lists]\ndeny = ["api:a"]\n${base}`);
    const rs = await RateSync.fromFile(config.file, { watch: true, debounceMs: 20, quiet: true });
    try {
      let reloads = 0;
      rs.on("reload", () => reloads++);
      expect((await rs.tryAcquire("api:a")).list).toBe("deny");
      writeFileSync(config.file, `[lists]\ndeny = ["api:b"]\n${base}`);
      await waitFor("the reload of the lists", () => reloads > 0);
      expect((await rs.tryAcquire("api:a")).list).toBeUndefined();
      expect((await rs.tryAcquire("api:b")).list).toBe("deny");
    } finally {
      await rs.close();
      config.remove();
    }
  });
});

describe("lists in the API", () => {
  it("match the ip option against ranges, and refuse a non-string ip", async () => {
    const rs = RateSync.fromToml(
      '[lists]\nallow = ["10.0.0.0/8"]\ndeny = ["192.0.2.0/24"]\n[limiters.api]\nalgorithm = "fixed_window"\nlimit = 1\nwindow = "1h"\n',
    );
    expect((await rs.tryAcquire("api", { ip: "10.0.0.1" })).list).toBe("allow");
    expect((await rs.tryAcquire("api", { ip: "192.0.2.55" })).list).toBe("deny");
    expect(rs.tryAcquireSync("api", { ip: "192.0.2.55" }).list).toBe("deny");
    expect((await rs.tryAcquire("api")).allowed).toBe(true);
    expect((await rs.tryAcquire("api")).allowed).toBe(false);
    await expect(rs.tryAcquire("api", { ip: 42 as unknown as string })).rejects.toThrow(
      /ip must be a string/,
    );
    await rs.close();
  });

  it("emit decision events for listed keys", async () => {
    const rs = RateSync.fromToml(
      '[lists]\ndeny = ["a:x"]\nallow = ["a:y"]\n[limiters."a:<k>"]\nrate = "1/h"\n',
    );
    const seen: (string | undefined)[] = [];
    rs.on("decision", (d) => seen.push(d.list));
    await rs.tryAcquire("a:x");
    await rs.tryAcquire("a:y");
    await rs.tryAcquire("a:z");
    expect(seen).toEqual(["deny", "allow", undefined]);
    await rs.close();
  });
});
