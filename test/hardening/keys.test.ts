/**
 * Hostile keys end to end (RateSync → template → store): arbitrary strings up to 1 KiB, Redis hash-tag look-
 * alikes, SQL fragments, `__proto__`, NUL bytes and lone surrogates never share state with another key and
 * never escape their namespace, on the memory store, Redis and PostgreSQL. Runs are modest on the remote
 * stores (each run is a few dozen round trips).
 */

import { createHash } from "node:crypto";
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashKey } from "../../src/decide/keys.ts";
import { RateSync, UnknownLimiterError } from "../../src/index.ts";
import { requirePostgres, requireRedis, uniqueName } from "../helpers/stores.ts";
import { adminSql, dropStoreObjects, testConfig } from "../stores/postgres/setup.ts";
import { deleteByPrefix } from "../stores/redis/setup.ts";

const redis = await requireRedis();
const postgres = await requirePostgres();

const LIMIT = 1_000;

/** Keys chosen to break naive encodings: separators, hash tags, quoting, escapes, prototype names, NUL. */
const HOSTILE: readonly string[] = [
  "a",
  "A",
  "a:b",
  "a:b:",
  ":",
  "::",
  "{a}",
  "{a",
  "a}",
  "}{",
  "{}",
  "{{}}",
  "}:s",
  "}:l",
  "1:a",
  "x'; DROP TABLE rate_sync_state; --",
  "' OR '1'='1",
  '"; SELECT pg_sleep(10); --',
  "$1",
  "%s%n",
  "\\",
  "\\\\0",
  "redis.call('FLUSHALL')",
  "]]..redis.call('DEL',KEYS[1])..[[",
  "*",
  "?",
  "[a-z]",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
  "\u0000",
  "\u0000\u0000",
  "a\u0000b",
  "\u0001",
  "\u00010",
  "\u0001\u0001",
  "\uD800",
  "\uDBFF",
  "\uDC00",
  "\uD800\uDC00",
  "\uDC00\uD800",
  "\uFFFD",
  "\uFEFF",
  "é",
  "e\u0301",
  "日本語🔑",
  " ",
  "\t\r\n",
  "null",
  "undefined",
];

/** The template prefix of every key: `<run>` keeps property runs apart without resetting anything. */
const prefixOf = (template: "t" | "h", run: number) => `${template}:${run}:`;

/** Arbitrary key bodies, short and hostile or long up to the 1 KiB limit (checked after prefixing). */
const keyBody: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE) },
  { weight: 3, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 24 }) },
  {
    weight: 3,
    arbitrary: fc.string({
      unit: fc.constantFrom("{", "}", ":", "'", "\\", "\u0000", "\u0001", "\uD800", "\uDC00", "a", "0", "s"),
      minLength: 1,
      maxLength: 16,
    }),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom("k", "é", "語", "{", "\u0000", "\uD800"), fc.integer({ min: 100, max: 1_020 }))
      .map(([unit, bytes]) => unit.repeat(Math.max(1, Math.floor(bytes / Buffer.byteLength(unit))))),
  },
);

/** Distinct bodies whose full keys (`t:<run>:` plus body) fit in 1 KiB of UTF-8. */
const keySet = fc
  .uniqueArray(keyBody, { minLength: 2, maxLength: 16 })
  .map((bodies) => bodies.filter((body) => Buffer.byteLength(`h:99999:${body}`, "utf8") <= 1_024))
  .filter((bodies) => bodies.length >= 2);

function tomlFor(storeTable: string): string {
  return `
${storeTable}

[limiters."t:<run>:<key>"]
store = "s"
algorithm = "fixed_window"
limit = ${LIMIT}
window = "1h"

[limiters."h:<run>:<key>"]
store = "s"
algorithm = "fixed_window"
limit = ${LIMIT}
window = "1h"
hash_keys = true
`;
}

/**
 * The property: in one run, key i (under each template) consumes its own distinct amount; then every key sees
 * exactly its own usage, and resetting one key resets nothing else.
 */
async function checkRun(rs: RateSync, run: number, bodies: readonly string[]): Promise<void> {
  for (const template of ["t", "h"] as const) {
    const keys = bodies.map((body) => prefixOf(template, run) + body);
    const costs = keys.map((_, i) => (i % 9) + 1);
    for (const [i, key] of keys.entries()) {
      const decision = await rs.tryAcquire(key, { cost: costs[i] ?? 1 });
      expect(decision.allowed, JSON.stringify(key)).toBe(true);
      // The decision speaks of the caller's key, whatever the store saw.
      expect(decision.key).toBe(key);
    }
    for (const [i, key] of keys.entries()) {
      expect((await rs.peek(key)).remaining, `usage of ${JSON.stringify(key)}`).toBe(LIMIT - (costs[i] ?? 1));
    }
    const [first, ...rest] = keys;
    if (first === undefined) continue;
    await rs.reset(first);
    expect((await rs.peek(first)).remaining).toBe(LIMIT);
    for (const [i, key] of rest.entries()) {
      expect((await rs.peek(key)).remaining, `after resetting ${JSON.stringify(first)}`).toBe(
        LIMIT - (costs[i + 1] ?? 1),
      );
    }
  }
}

/** Runs the property `numRuns` times and returns every (template, key) pair still holding state. */
async function runProperty(rs: RateSync, numRuns: number, seed: number): Promise<Set<string>> {
  const live = new Set<string>();
  let run = 0;
  await fc.assert(
    fc.asyncProperty(keySet, async (bodies) => {
      run++;
      await checkRun(rs, run, bodies);
      // The first key of each template was reset; the others hold state.
      for (const template of ["t", "h"] as const) {
        for (const body of bodies.slice(1)) live.add(prefixOf(template, run) + body);
      }
    }),
    { numRuns, seed },
  );
  return live;
}

describe("hashKey (hash_keys = true)", () => {
  it("is the SHA-256 of the UTF-8 bytes for well-formed keys", () => {
    for (const key of ["user:42", "日本語🔑", "\u0000", "\uD800\uDC00"]) {
      expect(hashKey(key)).toBe(createHash("sha256").update(key, "utf8").digest("hex"));
    }
  });

  it("keeps keys with lone surrogates apart from each other and from U+FFFD", () => {
    const keys = [
      "\uD800",
      "\uDBFF",
      "\uDC00",
      "\uFFFD",
      "a\uD800",
      "a\uFFFD",
      "\uDC00\uD800",
      "\uFFFD\uFFFD",
    ];
    expect(new Set(keys.map(hashKey)).size).toBe(keys.length);
  });
});

describe("keys that look like names of Object.prototype members", () => {
  it("resolve to nothing unless configured: UnknownLimiterError, never a prototype member", async () => {
    const rs = RateSync.fromToml(`[limiters.api]\nrate = "1/s"\n`, { env: {} });
    try {
      for (const key of [
        "__proto__",
        "constructor",
        "toString",
        "hasOwnProperty",
        "valueOf",
        "__proto__:x",
      ]) {
        await expect(rs.tryAcquire(key)).rejects.toBeInstanceOf(UnknownLimiterError);
        await expect(rs.peek(key)).rejects.toBeInstanceOf(UnknownLimiterError);
        expect(rs.explain(key)).toBeUndefined();
      }
      expect(rs.metrics().limiters).not.toHaveProperty("__proto__", expect.anything());
    } finally {
      await rs.close();
    }
  });
});

describe("hostile keys on the memory store", () => {
  it("never share state (property)", async () => {
    const rs = RateSync.fromToml(tomlFor('[stores.s]\nengine = "memory"'), { env: {} });
    try {
      await runProperty(rs, 150, 1);
    } finally {
      await rs.close();
    }
  });
});

describe.skipIf(!redis.available)("hostile keys on Redis", () => {
  const prefix = uniqueName("hardening_keys");
  let raw: Redis;
  let rs: RateSync;

  beforeAll(() => {
    raw = new Redis(redis.url);
    rs = RateSync.fromToml(
      tomlFor(`[stores.s]\nengine = "redis"\nurl = "${redis.url}"\nkey_prefix = "${prefix}"\ntimeout = "5s"`),
      { env: {} },
    );
  });
  afterAll(async () => {
    await rs?.close();
    await deleteByPrefix(raw, prefix);
    raw.disconnect();
  });

  it("never share state and stay under the key prefix (property)", async () => {
    const live = await runProperty(rs, 25, 2);
    const names: string[] = [];
    let cursor = "0";
    do {
      const [next, batch] = await raw.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      names.push(...batch);
    } while (cursor !== "0");
    // One Redis key per (limiter, key) pair holding state: no two pairs merged, none landed outside the prefix.
    expect(new Set(names).size).toBe(live.size);
    for (const name of names) expect(name.startsWith(`${prefix}:{`)).toBe(true);
    // hash_keys: the key itself never reaches Redis, only its SHA-256.
    const hashedBodies = [...live]
      .filter((key) => key.startsWith("h:"))
      .map((key) => key.replace(/^h:\d+:/, ""));
    const hashedNames = names.filter((name) => name.includes("h:<run>:<key>:"));
    expect(hashedNames.length).toBeGreaterThan(0);
    for (const body of hashedBodies.filter((b) => b.length >= 12 && /^[\w ]+$/.test(b))) {
      for (const name of hashedNames) expect(name.includes(body)).toBe(false);
    }
  });
});

describe.skipIf(!postgres.available)("hostile keys on PostgreSQL", () => {
  const config = testConfig("hardening_keys");
  let rs: RateSync;

  beforeAll(() => {
    rs = RateSync.fromToml(
      tomlFor(
        `[stores.s]\nengine = "postgres"\nurl = "${postgres.url}"\ntable_name = "${config.tableName}"\ntimeout = "5s"`,
      ),
      { env: {} },
    );
  });
  afterAll(async () => {
    await rs?.close();
    await dropStoreObjects(config);
  });

  it("never share state and keep one row per key (property)", async () => {
    const live = await runProperty(rs, 25, 3);
    const sql = await adminSql(postgres.url);
    try {
      const rows = await sql.unsafe<{ limiter_id: string; key: string }[]>(
        `SELECT limiter_id, key FROM public."${config.tableName}"`,
      );
      expect(rows.length).toBe(live.size);
      // hash_keys: the stored key is the hex SHA-256 of the caller's key, never the key itself.
      const hashed = rows.filter((row) => row.limiter_id === "h:<run>:<key>");
      const expected = new Set([...live].filter((key) => key.startsWith("h:")).map((key) => hashKey(key)));
      expect(new Set(hashed.map((row) => row.key))).toEqual(expected);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
});
