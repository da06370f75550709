/**
 * Fuzzing the config loader: whatever text or values it is given, `parseConfigText` returns a snapshot or
 * throws `ConfigError` — never another exception, never a hang — and a RateSync instance given a bad reload
 * keeps deciding with its old limits (nothing half-applied).
 *
 * Each case's time is bounded: the loader is synchronous, so a catastrophic regular expression or a loop would
 * show up as one case taking seconds. The bound is generous (a hang detector, not a performance assertion).
 */

import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { stringify } from "smol-toml";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, parseConfigText, RateSync } from "../../src/index.ts";

/** Longest any single parse may take before it counts as a hang. */
const CASE_BOUND_MS = 2_000;

const ROOT = join(import.meta.dirname, "..", "..");
const BAD_DIR = join(ROOT, "test", "fixtures", "bad");
const SEEDS: readonly string[] = [
  readFileSync(join(ROOT, "rate-sync.toml.example"), "utf8"),
  readFileSync(join(ROOT, "test", "fixtures", "prototype-ids.toml"), "utf8"),
  ...readdirSync(BAD_DIR)
    .filter((name) => name.endsWith(".toml"))
    .map((name) => readFileSync(join(BAD_DIR, name), "utf8")),
];

/** What one parse did: a snapshot, a ConfigError, or anything else (a failure of this test). */
type ParseResult = { kind: "snapshot" } | { kind: "config-error"; error: ConfigError };

/** Parses and checks the contract: ConfigError or a snapshot, within the bound. Throws otherwise. */
function parseChecked(text: string, env: Record<string, string | undefined> = {}): ParseResult {
  const started = performance.now();
  let result: ParseResult;
  try {
    parseConfigText(text, { env, file: "fuzz.toml" });
    result = { kind: "snapshot" };
  } catch (error) {
    if (!(error instanceof ConfigError)) {
      throw new Error(
        `parseConfigText threw ${error instanceof Error ? error.constructor.name : typeof error} for ${JSON.stringify(text.slice(0, 400))}: ${String(error)}`,
        { cause: error },
      );
    }
    // Every issue is usable: a file, a string path and a message; the message lists them all.
    expect(error.issues.length).toBeGreaterThan(0);
    for (const issue of error.issues) {
      expect(issue.file).toBe("fuzz.toml");
      expect(typeof issue.path).toBe("string");
      expect(issue.message.length).toBeGreaterThan(0);
    }
    result = { kind: "config-error", error };
  }
  const elapsed = performance.now() - started;
  if (elapsed > CASE_BOUND_MS) {
    throw new Error(
      `parseConfigText took ${elapsed.toFixed(0)} ms for ${JSON.stringify(text.slice(0, 400))}`,
    );
  }
  return result;
}

// ------------------------------------------------------------------------------------------- arbitraries

/** Values a user (or an attacker who controls the environment) might put anywhere. */
const hostileScalar: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    0,
    -1,
    1,
    0.5,
    1e308,
    -1e308,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    Number.MAX_SAFE_INTEGER,
    2 ** 53 + 2,
    true,
    false,
    "",
    " ",
    "100/s",
    "0/s",
    "1/0s",
    "10/min",
    "3/5min",
    "1e999/s",
    "5m",
    "-5s",
    "250ms",
    "1e400s",
    "NaN",
    "Infinity",
    "true",
    "42",
    "memory",
    "redis",
    "postgres",
    "token_bucket",
    "gcra",
    "fixed_window",
    "sliding_window",
    "sliding_window_counter",
    "leaky_bucket",
    "allow",
    "deny",
    "local",
    "${UNSET}",
    "${SET}",
    "${SET:-x}",
    "${EMPTY:-5s}",
    "${EMPTY-5s}",
    "${UNSET:?boom}",
    "${UNSET",
    "$${SET}",
    "$",
    "${}",
    "${:-}",
    "${A:-${B}}",
    "redis://user:hunter2@127.0.0.1:6379/0",
    "postgres://u:secret@h/db",
    "__proto__",
    "constructor",
    "\u0000",
    "\uD800",
    "a".repeat(5000),
    "(((((((((((((((((((((((((((((((((a",
    `${"1".repeat(5000)}/s`,
    `${"9".repeat(400)}ms`,
  ),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.double(),
  fc.integer(),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
);

const KEYS = [
  "engine",
  "url",
  "key_prefix",
  "cluster",
  "table_name",
  "schema_name",
  "auto_create",
  "pool_max_size",
  "pool_min_size",
  "timeout",
  "max_keys",
  "db",
  "password",
  "store",
  "algorithm",
  "rate",
  "rate_per_second",
  "burst",
  "limit",
  "window",
  "window_seconds",
  "max_concurrent",
  "lease",
  "on_store_error",
  "fail_closed",
  "shadow",
  "hash_keys",
  "max_clones",
  "unlogged",
  "__proto__",
  "constructor",
  "colour",
] as const;

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: hostileScalar },
  { weight: 1, arbitrary: fc.array(hostileScalar, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom(...KEYS), hostileScalar, { maxKeys: 2 }) },
);

const tableOfSettings = fc.dictionary(fc.constantFrom(...KEYS), hostileValue, { maxKeys: 6 });
const idArbitrary = fc.oneof(
  fc.constantFrom("api", "main", "memory", "api:<tenant>", "<a>:<b>", "<>", "a:<", "__proto__", "${SET}", ""),
  fc.string({ maxLength: 12 }),
);

/** A whole document of the config's shape with hostile values in every slot. */
const documentArbitrary = fc.record(
  {
    defaults: tableOfSettings,
    stores: fc.dictionary(idArbitrary, tableOfSettings, { maxKeys: 3 }),
    limiters: fc.dictionary(idArbitrary, tableOfSettings, { maxKeys: 4 }),
    extra: hostileValue,
  },
  { requiredKeys: [] },
);

const envArbitrary = fc.record({
  SET: hostileScalar.map((v) => (typeof v === "string" ? v : String(v))),
  EMPTY: fc.constant(""),
});

/** Serializes a document to TOML; documents smol-toml cannot express (NaN keys, nulls) give undefined. */
function toToml(document: unknown): string | undefined {
  try {
    return stringify(document as Record<string, unknown>);
  } catch {
    return undefined;
  }
}

/** One random edit of a text: cut, insert, duplicate, swap lines, truncate. */
const mutation = fc.oneof(
  fc.tuple(fc.nat(), fc.nat({ max: 40 })).map(
    ([at, length]) =>
      (text: string) =>
        text.slice(0, at % (text.length + 1)) + text.slice((at % (text.length + 1)) + length),
  ),
  fc
    .tuple(
      fc.nat(),
      fc.oneof(
        fc.string({ maxLength: 8 }),
        fc.constantFrom(
          "[",
          "]",
          "[[",
          '"',
          "'''",
          '"""',
          "=",
          "\n",
          "#",
          "${",
          "}",
          "\\",
          "\u0000",
          ".",
          "<",
          ">",
        ),
      ),
    )
    .map(([at, insert]) => (text: string) => {
      const i = at % (text.length + 1);
      return text.slice(0, i) + insert + text.slice(i);
    }),
  fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => (text: string) => {
    const lines = text.split("\n");
    const i = a % lines.length;
    const j = b % lines.length;
    [lines[i], lines[j]] = [lines[j] ?? "", lines[i] ?? ""];
    return lines.join("\n");
  }),
  fc.nat().map((a) => (text: string) => {
    const lines = text.split("\n");
    const i = a % lines.length;
    lines.splice(i, 0, lines[i] ?? "");
    return lines.join("\n");
  }),
  fc.nat().map((at) => (text: string) => text.slice(0, at % (text.length + 1))),
);

const mutatedSeed = fc
  .tuple(fc.constantFrom(...SEEDS), fc.array(mutation, { minLength: 1, maxLength: 6 }))
  .map(([seed, edits]) => edits.reduce((text, edit) => edit(text), seed));

// ------------------------------------------------------------------------------------------------- tests

describe("parseConfigText under fuzzing", () => {
  it("arbitrary text: a snapshot or a ConfigError", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: "binary", maxLength: 300 })),
        (text) => {
          parseChecked(text);
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it("documents of the config's shape with hostile values, under a hostile environment", () => {
    let snapshots = 0;
    let errors = 0;
    fc.assert(
      fc.property(documentArbitrary, envArbitrary, (document, env) => {
        const text = toToml(document);
        if (text === undefined) return;
        const result = parseChecked(text, env);
        if (result.kind === "snapshot") snapshots++;
        else errors++;
      }),
      { numRuns: 1_000 },
    );
    // The generator must reach the validator, not only the TOML parser.
    expect(errors).toBeGreaterThan(0);
    expect(snapshots + errors).toBeGreaterThan(500);
  });

  it("mutated fixtures and the example: a snapshot or a ConfigError", () => {
    const env = { REDIS_URL: "redis://127.0.0.1:6379", DATABASE_URL: "postgres://u:secret@127.0.0.1/db" };
    fc.assert(
      fc.property(mutatedSeed, (text) => {
        parseChecked(text, env);
      }),
      { numRuns: 1_500 },
    );
  });

  it("every seed parses or fails cleanly as it is, and the valid example stays valid", () => {
    for (const seed of SEEDS) parseChecked(seed, {});
    expect(parseChecked(SEEDS[0] ?? "", {}).kind).toBe("snapshot");
  });

  it("pathological inputs: deep nesting, huge numbers, long lines, many tables", () => {
    const cases = [
      `x = ${"[".repeat(5_000)}${"]".repeat(5_000)}`,
      `x = ${"{ a = ".repeat(2_000)}1${" }".repeat(2_000)}`,
      `[limiters.api]\nrate = "${"9".repeat(100_000)}/s"`,
      `[limiters.api]\nburst = ${"9".repeat(10_000)}`,
      `[limiters.api]\nrate = "1/${"9".repeat(10_000)}s"`,
      `[limiters.api]\nrate = "${" ".repeat(50_000)}1/s"`,
      `[limiters.api]\nrate = "1/s"\nwindow = "${"1".repeat(50_000)}x"`,
      Array.from({ length: 5_000 }, (_, i) => `[limiters.l${i}]\nrate = "1/s"`).join("\n"),
      `[limiters."${"<a>:".repeat(200)}<z>"]\nrate = "1/s"`,
      `[limiters.api]\nrate = "${"${A:-".repeat(500)}1/s${"}".repeat(500)}"`,
      `# ${"\u0000".repeat(100)}`,
      "\uFEFF[limiters.api]\nrate = '1/s'",
    ];
    for (const text of cases) parseChecked(text, { A: "" });
  });
});

describe("secrets never appear in a ConfigError", () => {
  it("URL passwords and password values stay out of every message, whatever else is wrong", () => {
    const secret = fc.stringMatching(/^[A-Za-z0-9]{10,20}$/).map((s) => `S3cr3t${s}`);
    const urlWith = (scheme: string, password: string) => `${scheme}://user:${password}@db.internal:5432/0`;
    fc.assert(
      fc.property(
        secret,
        fc.constantFrom("redis", "rediss", "postgres", "postgresql", "mysql", "http", "redis+x", ""),
        fc.constantFrom("redis", "postgres", "memory", "rdis", 5),
        fc.constantFrom("url", "url-list", "password", "env"),
        tableOfSettings,
        fc.boolean(),
        (password, scheme, engine, where, extra, broken) => {
          const store: Record<string, unknown> = { ...extra, engine };
          delete store.password;
          delete store.url;
          const env: Record<string, string> = {};
          if (where === "url") store.url = urlWith(scheme, password);
          else if (where === "url-list") store.url = [urlWith(scheme, password), 5];
          else if (where === "password") store.password = password;
          else {
            env.SECRET_URL = urlWith(scheme, password);
            store.url = "${SECRET_URL}";
          }
          const text = toToml({
            stores: { main: store },
            limiters: { api: { rate: broken ? "fast" : "1/s" } },
          });
          if (text === undefined) return;
          const result = parseChecked(text, env);
          if (result.kind === "config-error") {
            expect(result.error.message).not.toContain(password);
            for (const issue of result.error.issues) expect(issue.message).not.toContain(password);
          }
        },
      ),
      { numRuns: 1_000 },
    );
  });
});

describe("a bad reload is never half-applied", () => {
  const dir = mkdtempSync(join(tmpdir(), "rs-hardening-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const GOOD = `
[limiters.tight]
algorithm = "fixed_window"
limit = 2
window = "1h"

[limiters."t:<id>"]
algorithm = "fixed_window"
limit = 1
window = "1h"
`;

  it("after any invalid file, the old limits still decide and the old ids still resolve", async () => {
    const file = join(dir, "rate-sync.toml");
    writeFileSync(file, GOOD);
    const rs = await RateSync.fromFile(file, { env: {} });
    const reloadErrors: ConfigError[] = [];
    rs.on("reloadError", (error) => reloadErrors.push(error));
    try {
      expect((await rs.tryAcquire("tight")).allowed).toBe(true);
      expect((await rs.tryAcquire("tight")).allowed).toBe(true);
      expect((await rs.tryAcquire("tight")).allowed).toBe(false);
      const before = rs.snapshot;
      let rejected = 0;
      // A mutation of GOOD that stays valid would legitimately apply: only invalid ones are kept.
      const bad = fc.sample(
        fc.oneof(
          fc
            .tuple(fc.constant(GOOD), fc.array(mutation, { minLength: 1, maxLength: 4 }))
            .map(([seed, edits]) => edits.reduce<string>((text, edit) => edit(text), seed)),
          documentArbitrary.map((document) => toToml(document) ?? "[[["),
        ),
        { numRuns: 120, seed: 42 },
      );
      for (const text of bad) {
        if (text.trim() === "" || parseChecked(text, {}).kind === "snapshot") continue;
        writeFileSync(file, text);
        const error = await rs.reload().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(ConfigError);
        rejected++;
        // The same snapshot object, the same limiters, the same usage: nothing of the bad file leaked in.
        expect(rs.snapshot).toBe(before);
        expect(rs.limiterIds()).toEqual(["tight", "t:<id>"]);
        expect((await rs.tryAcquire("tight")).allowed).toBe(false);
        expect((await rs.peek("tight")).limit).toBe(2);
        expect((await rs.peek(`t:${rejected}`)).limit).toBe(1);
      }
      expect(rejected).toBeGreaterThan(50);
      expect(reloadErrors).toHaveLength(rejected);
      expect(rs.metrics().reloadErrors).toBe(rejected);
      // And the next valid save applies normally.
      writeFileSync(file, GOOD.replace("limit = 2", "limit = 5"));
      const event = await rs.reload();
      expect(event.changed).toContain("tight");
      expect((await rs.tryAcquire("tight")).allowed).toBe(true);
    } finally {
      await rs.close();
    }
  });
});
