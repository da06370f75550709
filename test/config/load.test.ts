// biome-ignore-all lint/suspicious/noTemplateCurlyInString: TOML texts contain ${VAR} references on purpose
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { describeConfig } from "../../src/config/describe.ts";
import {
  findConfigFile,
  normalizeLimiterDefinition,
  parseConfigObject,
  parseConfigText,
} from "../../src/config/load.ts";
import { loadConfig } from "../../src/config/load-file.ts";
import { maskUrl } from "../../src/config/mask.ts";
import { ConfigError, isConfigError } from "../../src/errors.ts";

const load = (text: string, env: Record<string, string> = {}) => parseConfigText(text, { env });
const limiter = (text: string, id = "x") => {
  const config = load(text).limiters.get(id);
  if (config === undefined) throw new Error(`no limiter ${id}`);
  return config;
};
function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (isConfigError(error)) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("normalization", () => {
  it.each([
    ['rate = "100/s"', 10, 100, 1],
    ['rate = "100/min"', 600, 100, 60],
    ['rate = "3/5min"', 100_000, 3, 300],
    ['rate = "1000/day"', 86_400, 1000, 86_400],
    ["rate_per_second = 10", 100, 10, 1],
    ["rate_per_second = 0.5", 2000, 1, 2],
    ['rate_per_second = "2.5"', 400, 3, 2],
    ['rate = "100/s"\nburst = 250', 10, 250, 3],
  ])("%s → interval %d ms, burst %d, policy window %d s", (body, intervalMs, burst, windowSeconds) => {
    const config = limiter(`[limiters.x]\n${body}\n`);
    expect(config.rate).toEqual({ kind: "token_bucket", intervalMs, burst });
    expect(config.policy).toEqual({ name: "x", quota: burst, windowSeconds });
  });

  it("maps gcra to token_bucket and keeps leaky_bucket", () => {
    expect(limiter('[limiters.x]\nalgorithm = "gcra"\nrate = "5/s"').rate?.kind).toBe("token_bucket");
    expect(limiter('[limiters.x]\nalgorithm = "leaky_bucket"\nrate = "5/s"\nburst = 2').rate).toEqual({
      kind: "leaky_bucket",
      intervalMs: 200,
      burst: 2,
    });
  });

  it.each(["fixed_window", "sliding_window", "sliding_window_counter"] as const)(
    "%s with window or window_seconds",
    (kind) => {
      for (const window of [
        'window = "90s"',
        "window_seconds = 90",
        "window = 90",
        'window_seconds = "90"',
      ]) {
        const config = limiter(`[limiters.x]\nalgorithm = "${kind}"\nlimit = 5\n${window}`);
        expect(config.rate).toEqual({ kind, limit: 5, windowMs: 90_000 });
        expect(config.policy).toEqual({ name: "x", quota: 5, windowSeconds: 90 });
      }
    },
  );

  it("rounds a sub-second window up to one second in the policy", () => {
    const config = limiter('[limiters.x]\nalgorithm = "fixed_window"\nlimit = 5\nwindow = "250ms"');
    expect(config.policy.windowSeconds).toBe(1);
  });

  it("builds concurrency limits alone or beside a rate", () => {
    const alone = limiter("[limiters.x]\nmax_concurrent = 3");
    expect(alone.rate).toBeUndefined();
    expect(alone.concurrency).toEqual({ kind: "concurrency", maxConcurrent: 3, leaseMs: 60_000 });
    expect(alone.policy).toEqual({ name: "x", quota: 3 });
    const both = limiter('[limiters.x]\nrate = "10/s"\nmax_concurrent = 2\nlease = "5m"');
    expect(both.concurrency).toEqual({ kind: "concurrency", maxConcurrent: 2, leaseMs: 300_000 });
    expect(both.policy).toEqual({ name: "x", quota: 10, windowSeconds: 1 });
  });

  it("marks templates", () => {
    const snapshot = load('[limiters."api:<tenant>"]\nrate = "1/s"\n[limiters.plain]\nrate = "1/s"');
    expect(snapshot.limiters.get("api:<tenant>")?.isTemplate).toBe(true);
    expect(snapshot.limiters.get("plain")?.isTemplate).toBe(false);
  });

  it("accepts numbers and booleans written as strings (what interpolation produces), and nothing else", () => {
    const interpolated = parseConfigText(
      '[limiters.x]\nrate = "${RATE}"\nburst = "${BURST}"\nshadow = "${SHADOW}"\nhash_keys = "false"',
      {
        env: { RATE: "10/s", BURST: "42", SHADOW: "true" },
      },
    ).limiters.get("x");
    expect(interpolated?.rate).toEqual({ kind: "token_bucket", intervalMs: 100, burst: 42 });
    expect(interpolated?.shadow).toBe(true);
    expect(interpolated?.hashKeys).toBe(false);
    expect(configErrorOf(() => load('[limiters.x]\nrate = "1/s"\nshadow = "yes"')).issues[0]?.message).toBe(
      'expected true or false, got "yes"',
    );
    expect(configErrorOf(() => load('[limiters.x]\nrate = "1/s"\nburst = "4 2"')).issues[0]?.message).toBe(
      'expected a number, got "4 2"',
    );
    // String fields take strings only: no guessing that 42 meant "42".
    expect(
      configErrorOf(() => load('[stores.s]\nengine = "memory"\n[limiters.x]\nstore = 42\nrate = "1/s"'))
        .issues[0]?.message,
    ).toBe("expected a string, got 42");
  });
});

describe("defaults resolution", () => {
  it("without a [defaults] table: wait until allowed, allow on store errors, the implicit memory store", () => {
    const snapshot = load('[limiters.x]\nrate = "1/s"');
    expect(snapshot.defaults).toEqual({ timeoutMs: null, onStoreError: "allow", maxClones: 100_000 });
    expect([...snapshot.stores.values()]).toEqual([{ id: "memory", engine: "memory", maxKeys: 1_000_000 }]);
    expect(snapshot.limiters.get("x")).toMatchObject({
      store: "memory",
      timeoutMs: null,
      onStoreError: "allow",
      shadow: false,
      hashKeys: false,
    });
  });

  it("takes timeout, on_store_error and store from [defaults] unless the limiter says otherwise", () => {
    const snapshot = load(`
[defaults]
store = "b"
timeout = "5s"
on_store_error = "local"
max_clones = 10

[stores.a]
engine = "memory"
[stores.b]
engine = "memory"

[limiters.inherits]
rate = "1/s"

[limiters.overrides]
store = "a"
rate = "1/s"
timeout = 0
on_store_error = "deny"
`);
    expect(snapshot.defaults).toEqual({ store: "b", timeoutMs: 5000, onStoreError: "local", maxClones: 10 });
    expect(snapshot.limiters.get("inherits")).toMatchObject({
      store: "b",
      timeoutMs: 5000,
      onStoreError: "local",
    });
    expect(snapshot.limiters.get("overrides")).toMatchObject({
      store: "a",
      timeoutMs: 0,
      onStoreError: "deny",
    });
  });

  it("uses the only store when none is named, and asks when there are several", () => {
    expect(limiter('[stores.only]\nengine = "memory"\n[limiters.x]\nrate = "1/s"').store).toBe("only");
    const error = configErrorOf(() =>
      load('[stores.a]\nengine = "memory"\n[stores.b]\nengine = "memory"\n[limiters.x]\nrate = "1/s"'),
    );
    expect(error.issues.map((issue) => [issue.path, issue.line])).toEqual([["limiters.x", 5]]);
  });

  it("maps fail_closed: true → deny; false → never inherits deny", () => {
    expect(limiter('[limiters.x]\nrate = "1/s"\nfail_closed = true').onStoreError).toBe("deny");
    expect(
      load(
        '[defaults]\non_store_error = "deny"\n[limiters.x]\nrate = "1/s"\nfail_closed = false',
      ).limiters.get("x")?.onStoreError,
    ).toBe("allow");
    expect(
      load(
        '[defaults]\non_store_error = "local"\n[limiters.x]\nrate = "1/s"\nfail_closed = false',
      ).limiters.get("x")?.onStoreError,
    ).toBe("local");
  });

  it("applies store defaults (SPEC §2.3)", () => {
    const snapshot = load(`
[stores.r]
engine = "redis"
url = "redis://127.0.0.1:6379/0"
[stores.p]
engine = "postgres"
url = "postgres://postgres@127.0.0.1:5432/test"
[stores.m]
engine = "memory"
[limiters.x]
store = "m"
rate = "1/s"
`);
    expect(snapshot.stores.get("r")).toEqual({
      id: "r",
      engine: "redis",
      url: "redis://127.0.0.1:6379/0",
      keyPrefix: "rate_sync",
      cluster: false,
      poolMaxSize: 10,
      timeoutMs: 1000,
    });
    expect(snapshot.stores.get("p")).toEqual({
      id: "p",
      engine: "postgres",
      url: "postgres://postgres@127.0.0.1:5432/test",
      tableName: "rate_sync_state",
      schemaName: "public",
      autoCreate: true,
      unlogged: false,
      poolMaxSize: 10,
      timeoutMs: 1000,
    });
    expect(snapshot.stores.get("m")).toEqual({ id: "m", engine: "memory", maxKeys: 1_000_000 });
  });

  it("accepts a list of node URLs for a Redis cluster only", () => {
    const urls = 'url = ["redis://a:7000", "redis://b:7001"]';
    expect(load(`[stores.c]\nengine = "redis"\ncluster = true\n${urls}`).stores.get("c")).toMatchObject({
      cluster: true,
      url: ["redis://a:7000", "redis://b:7001"],
    });
    expect(configErrorOf(() => load(`[stores.c]\nengine = "redis"\n${urls}`)).issues[0]?.message).toBe(
      "a list of URLs needs cluster = true",
    );
  });

  it("names the engine a misplaced store key belongs to", () => {
    const error = configErrorOf(() =>
      load('[stores.r]\nengine = "redis"\nurl = "redis://h"\ntable_name = "t"'),
    );
    expect(error.issues[0]?.message).toBe(
      '"table_name" is not a key of a redis store (it applies to postgres and sqlite stores)',
    );
  });
});

describe("rate-sync (Python) compatibility", () => {
  // From rate-sync's documentation: the keys and values load unchanged and mean what it promises.
  const python = `
[stores.redis]
engine = "redis"
url = "\${REDIS_URL}"
db = 2
password = "s3cret"
pool_min_size = 1
pool_max_size = 20
socket_timeout = 2.5
socket_connect_timeout = 1

[stores.db]
engine = "postgres"
url = "postgresql://user:pass@localhost/mydb"
table_name = "limits"
schema_name = "rl"
auto_create = false

[limiters.api]
store = "redis"
rate_per_second = 100.0

[limiters.external_api]
store = "redis"
rate_per_second = 100.0
max_concurrent = 10
timeout = 30.0

[limiters.auth_credential]
store = "redis"
algorithm = "sliding_window"
limit = 5
window_seconds = 300
fail_closed = true

[limiters.upload]
store = "redis"
max_concurrent = 10
timeout = 300.0
`;

  it("loads with the documented meaning", () => {
    const snapshot = parseConfigText(python, { env: { REDIS_URL: "redis://:pw@cache:6379/0" } });
    expect(snapshot.stores.get("redis")).toEqual({
      id: "redis",
      engine: "redis",
      url: "redis://:pw@cache:6379/0",
      keyPrefix: "rate_sync",
      cluster: false,
      db: 2,
      password: "s3cret",
      poolMaxSize: 20,
      poolMinSize: 1,
      timeoutMs: 1000,
      socketTimeoutMs: 2500,
      socketConnectTimeoutMs: 1000,
    });
    expect(snapshot.stores.get("db")).toMatchObject({
      tableName: "limits",
      schemaName: "rl",
      autoCreate: false,
    });
    expect(snapshot.limiters.get("api")).toMatchObject({
      store: "redis",
      rate: { kind: "token_bucket", intervalMs: 10, burst: 100 },
      timeoutMs: null, // "blocks until the rate limit allows"
      onStoreError: "allow",
    });
    expect(snapshot.limiters.get("external_api")).toMatchObject({
      rate: { kind: "token_bucket", intervalMs: 10, burst: 100 },
      concurrency: { kind: "concurrency", maxConcurrent: 10, leaseMs: 60_000 },
      timeoutMs: 30_000,
    });
    expect(snapshot.limiters.get("auth_credential")).toMatchObject({
      rate: { kind: "sliding_window", limit: 5, windowMs: 300_000 },
      onStoreError: "deny",
    });
    expect(snapshot.limiters.get("upload")).toMatchObject({
      concurrency: { maxConcurrent: 10 },
      timeoutMs: 300_000,
    });
    expect(snapshot.definitions.get("api")).toEqual({ store: "redis", rate_per_second: 100 });
  });

  it("says which variable is missing when REDIS_URL is unset", () => {
    const error = configErrorOf(() => parseConfigText(python, { env: {}, file: "rate-sync.toml" }));
    expect(error.issues.map((issue) => `${issue.line}:${issue.column} ${issue.path}`)).toEqual([
      "4:1 stores.redis.url",
    ]);
    expect(error.issues[0]?.message).toContain("REDIS_URL");
  });
});

describe("document shape", () => {
  it("rejects unknown top-level tables and tables of the wrong type", () => {
    const error = configErrorOf(() => load('limiter = 1\nstores = "memory"\n[limiters]\napi = 5'));
    expect(
      error.issues.map((issue) => `${issue.line}:${issue.column} ${issue.path}: ${issue.message}`),
    ).toEqual([
      '1:1 limiter: unknown key "limiter"; did you mean "limiters"? (expected "defaults", "stores", "limiters", "lists" or "overrides")',
      "2:1 stores: expected a table of stores ([stores.<id>])",
      "4:1 limiters.api: expected a table of limiter settings",
    ]);
  });
});

describe("ids", () => {
  it("loads __proto__, constructor and toString as plain store and limiter ids", async () => {
    const file = fileURLToPath(new URL("../fixtures/prototype-ids.toml", import.meta.url));
    const snapshot = await loadConfig(file, { env: {} });
    expect([...(snapshot?.stores.keys() ?? [])]).toEqual(["__proto__", "constructor"]);
    expect([...(snapshot?.limiters.keys() ?? [])]).toEqual(["__proto__", "constructor", "toString"]);
    expect(snapshot?.limiters.get("__proto__")).toMatchObject({ store: "__proto__", rate: { burst: 10 } });
    expect(snapshot?.limiters.get("constructor")?.rate).toEqual({
      kind: "fixed_window",
      limit: 3,
      windowMs: 60_000,
    });
    expect(snapshot?.limiters.get("toString")?.concurrency?.maxConcurrent).toBe(2);
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).rate).toBeUndefined();
    expect(({} as Record<string, unknown>).engine).toBeUndefined();
  });

  it("rejects __proto__ as a key inside a limiter instead of following it", () => {
    const error = configErrorOf(() => load('[limiters.x]\nrate = "1/s"\n__proto__ = { burst = 5 }'));
    expect(error.issues[0]).toMatchObject({ path: "limiters.x.__proto__", line: 3 });
    expect(({} as Record<string, unknown>).burst).toBeUndefined();
  });

  it("locates issues of an interpolated id at the id as written", () => {
    const error = configErrorOf(() =>
      parseConfigText('[limiters.ok]\nrate = "1/s"\n\n[limiters."api-${TIER}"]\nrate = "fast"', {
        env: { TIER: "pro" },
      }),
    );
    expect(error.issues).toEqual([
      {
        code: "invalid_value",
        file: "<config>",
        path: "limiters.api-pro.rate",
        keys: ["limiters", "api-pro", "rate"],
        line: 5,
        column: 1,
        message: expect.stringContaining('invalid rate "fast"'),
      },
    ]);
  });
});

describe("snapshot", () => {
  it("is deeply frozen", () => {
    const snapshot = load('[limiters.x]\nrate = "1/s"\nmax_concurrent = 1');
    expect(Object.isFrozen(snapshot)).toBe(true);
    expect(Object.isFrozen(snapshot.defaults)).toBe(true);
    expect(Object.isFrozen(snapshot.limiters.get("x")?.rate)).toBe(true);
    expect(Object.isFrozen(snapshot.definitions.get("x"))).toBe(true);
    expect(() => (snapshot.limiters as Map<string, unknown>).set("y", {})).toThrow(TypeError);
    expect(() => (snapshot.stores as Map<string, unknown>).delete("memory")).toThrow(TypeError);
    expect(() => (snapshot.definitions as Map<string, unknown>).clear()).toThrow(TypeError);
  });

  it("parseConfigObject validates an object of the TOML shape, without interpolation", () => {
    const snapshot = parseConfigObject({
      stores: { main: { engine: "memory", max_keys: 10 } },
      limiters: { login: { algorithm: "sliding_window", limit: 5, window: "5m", store: undefined } },
    });
    expect(snapshot.file).toBeUndefined();
    expect(snapshot.limiters.get("login")).toMatchObject({ store: "main", rate: { windowMs: 300_000 } });
    const error = configErrorOf(() => parseConfigObject({ limiters: { api: { rate: "${RATE}" } } }));
    expect(error.issues).toEqual([
      {
        code: "invalid_value",
        file: "<config>",
        path: "limiters.api.rate",
        keys: ["limiters", "api", "rate"],
        message: expect.stringContaining("invalid rate"),
      },
    ]);
    expect(configErrorOf(() => parseConfigObject(42)).issues[0]?.message).toBe(
      "expected a table of stores and limiters",
    );
  });

  it("normalizeLimiterDefinition validates one limiter against a snapshot", () => {
    const snapshot = load(
      '[defaults]\ntimeout = "2s"\n[stores.main]\nengine = "memory"\n[limiters.x]\nrate = "1/s"',
    );
    const context = { defaults: snapshot.defaults, stores: snapshot.stores };
    expect(normalizeLimiterDefinition("api", { rate: "50/s" }, context)).toMatchObject({
      id: "api",
      store: "main",
      timeoutMs: 2000,
      rate: { intervalMs: 20, burst: 50 },
    });
    const error = configErrorOf(() =>
      normalizeLimiterDefinition(
        "api",
        { rate: "50/s", limit: 3, store: "nope" },
        { ...context, file: "patch" },
      ),
    );
    expect(error.issues.map((issue) => `${issue.file} ${issue.path}`)).toEqual([
      "patch limiters.api.limit",
      "patch limiters.api.store",
    ]);
    expect(error.issues[1]?.message).toBe('unknown store "nope"; known stores: main');
  });
});

describe("secrets", () => {
  it("masks URL passwords", () => {
    expect(maskUrl("redis://:s3cret@cache:6379/0")).toBe("redis://:****@cache:6379/0");
    expect(maskUrl("postgres://app:s3cret@db:5432/rates")).toBe("postgres://app:****@db:5432/rates");
    expect(maskUrl("redis://cache:6379")).toBe("redis://cache:6379");
    expect(maskUrl("redis://user@cache")).toBe("redis://user@cache");
  });

  it("never shows passwords in errors or in the check listing", () => {
    const text = `
[stores.r]
engine = "redis"
url = "\${URL}"
password = "hunter2"
pool_min_size = 50
[stores.p]
engine = "postgres"
url = "rediss://app:hunter2@db/rates"
[limiters.x]
store = "r"
rate = "1/s"
`;
    const error = configErrorOf(() => parseConfigText(text, { env: { URL: "redis://:hunter2@cache:6379" } }));
    expect(error.issues).toHaveLength(2);
    expect(error.message).not.toContain("hunter2");
    const valid = parseConfigText(
      text.replace("pool_min_size = 50", "").replace("rediss://", "postgres://"),
      {
        env: { URL: "redis://:hunter2@cache:6379" },
      },
    );
    const listing = describeConfig(valid);
    expect(listing).not.toContain("hunter2");
    expect(listing).toContain("url=redis://:****@cache:6379");
    expect(listing).toContain("url=postgres://app:****@db/rates");
    expect(listing).toContain("password=****");
    expect(listing).toContain(
      'x: token_bucket rate="1/s" burst=1 (default) store="r" timeout=none on_store_error=allow shadow=false hash_keys=false',
    );
  });
});

describe("finding the file", () => {
  const root = mkdtempSync(join(tmpdir(), "rate-sync-config-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const dir = (name: string, files: Record<string, string>) => {
    const base = join(root, name);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(base, path, ".."), { recursive: true });
      writeFileSync(join(base, path), text);
    }
    mkdirSync(base, { recursive: true });
    return base;
  };
  const limiterFile = (id: string) => `[limiters.${id}]\nrate = "1/s"\n`;

  it("searches RATE_SYNC_CONFIG, then ./rate-sync.toml, then ./config/rate-sync.toml", async () => {
    const cwd = dir("all", {
      "rate-sync.toml": limiterFile("top"),
      "config/rate-sync.toml": limiterFile("nested"),
      "custom.toml": limiterFile("custom"),
    });
    const ids = async (env: Record<string, string>) => [
      ...((await loadConfig(undefined, { cwd, env }))?.limiters.keys() ?? []),
    ];
    expect(await ids({ RATE_SYNC_CONFIG: "custom.toml" })).toEqual(["custom"]);
    expect(await ids({})).toEqual(["top"]);
    rmSync(join(cwd, "rate-sync.toml"));
    expect(await ids({})).toEqual(["nested"]);
    expect(findConfigFile({ cwd, env: {} })).toBe(join(cwd, "config/rate-sync.toml"));
    expect((await loadConfig(undefined, { cwd, env: {} }))?.file).toBe(join(cwd, "config/rate-sync.toml"));
  });

  it("returns undefined when nothing is found and nothing was asked for", async () => {
    const cwd = dir("empty", {});
    expect(findConfigFile({ cwd, env: {} })).toBeUndefined();
    expect(await loadConfig(undefined, { cwd, env: {} })).toBeUndefined();
  });

  it("fails when an explicit path or RATE_SYNC_CONFIG does not exist", async () => {
    const cwd = dir("missing", { "rate-sync.toml": limiterFile("fallback") });
    for (const [path, env] of [
      ["nope.toml", {}],
      [undefined, { RATE_SYNC_CONFIG: "nope.toml" }],
    ] as const) {
      const error = await loadConfig(path, { cwd, env }).catch((reason: unknown) => reason);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues[0]?.message).toBe(
        `the config file ${join(cwd, "nope.toml")} does not exist`,
      );
    }
  });

  it("names the file relative to cwd in issues", async () => {
    const cwd = dir("relative", { "config/rate-sync.toml": '[limiters.x]\nrate = "nope"\n' });
    const error = await loadConfig(undefined, { cwd, env: {} }).catch((reason: unknown) => reason);
    expect((error as ConfigError).issues[0]).toMatchObject({
      file: join("config", "rate-sync.toml"),
      line: 2,
      column: 1,
    });
  });
});

describe("rate-sync.toml.example", () => {
  it("is valid with REDIS_URL and DATABASE_URL unset and shows every feature", async () => {
    const file = fileURLToPath(new URL("../../rate-sync.toml.example", import.meta.url));
    expect(readFileSync(file, "utf8").startsWith("#:schema ./schemas/rate-sync.schema.json\n")).toBe(true);
    const snapshot = await loadConfig(file, { env: {} });
    if (snapshot === undefined) throw new Error("not loaded");
    const limiters = [...snapshot.limiters.values()];
    expect(new Set([...snapshot.stores.values()].map((store) => store.engine))).toEqual(
      new Set(["memory", "redis", "postgres", "sqlite"]),
    );
    expect(limiters.some((config) => config.isTemplate)).toBe(true);
    expect(limiters.some((config) => config.shadow)).toBe(true);
    expect(limiters.some((config) => config.hashKeys)).toBe(true);
    expect(limiters.some((config) => config.rate !== undefined && config.concurrency !== undefined)).toBe(
      true,
    );
    expect(new Set(limiters.map((config) => config.rate?.kind))).toEqual(
      new Set(["token_bucket", "sliding_window", "fixed_window", "leaky_bucket", undefined]),
    );
    expect(snapshot.limiters.get("stripe_api")?.onStoreError).toBe("deny");
    expect(snapshot.lists?.verdict("api:blocked-tenant")).toBe("deny");
    expect(snapshot.lists?.verdict("internal:metrics")).toBe("allow");
  });
});
