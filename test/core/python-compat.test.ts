import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { parseConfigText } from "../../src/config/load.ts";
import { isConfigError, MemoryStore, RateSync } from "../../src/index.ts";
import { FakeClock } from "../helpers/clock.ts";

// The configuration examples of rate-sync (Python)'s documentation, unchanged.
const PYTHON_DOC_TOML = `
[stores.main]
engine = "memory"

[limiters.api]
store = "main"
rate_per_second = 10.0

[limiters.auth_credential]
store = "main"
algorithm = "sliding_window"
limit = 5                # 5 attempts
window_seconds = 300     # per 5 minutes

[limiters.upload]
store = "main"
max_concurrent = 10          # max 10 uploads at once
timeout = 300.0

[limiters.external_api]
store = "main"
rate_per_second = 100.0  # Max 100 req/sec
max_concurrent = 10      # Max 10 in-flight requests
timeout = 30.0           # Wait up to 30s for a slot
`;

describe("rate-sync (Python) configs behave as its documentation promises", () => {
  const clock = new FakeClock();
  let rs: RateSync;
  beforeEach(() => {
    rs = RateSync.fromToml(PYTHON_DOC_TOML, {
      stores: { main: new MemoryStore({ id: "main", now: clock.now }) },
    });
  });
  afterEach(async () => {
    await rs.close();
    vi.useRealTimers();
  });

  it("loads with the documented meaning", () => {
    const api = rs.explain("api")!;
    expect(api.rate).toEqual({ kind: "token_bucket", intervalMs: 100, burst: 10 });
    expect(api.timeoutMs).toBeNull();
    expect(rs.explain("auth_credential")!.rate).toEqual({
      kind: "sliding_window",
      limit: 5,
      windowMs: 300_000,
    });
    expect(rs.explain("upload")!.timeoutMs).toBe(300_000);
    expect(rs.explain("external_api")!.concurrency?.maxConcurrent).toBe(10);
  });

  it("a concurrency slot of the upload example lasts its 300 s timeout, not the 60 s default lease (#14.9)", async () => {
    expect(rs.explain("upload")!.concurrency?.leaseMs).toBe(300_000);
    // external_api waits at most 30 s: the 60 s default lease stays.
    expect(rs.explain("external_api")!.concurrency?.leaseMs).toBe(60_000);
    for (let i = 0; i < 10; i++) expect((await rs.tryAcquire("upload")).allowed).toBe(true);
    // Uploads that are still running after a minute keep their slots: no eleventh upload is admitted.
    clock.advance(61_000);
    expect((await rs.tryAcquire("upload")).allowed).toBe(false);
    clock.advance(240_000);
    expect((await rs.tryAcquire("upload")).allowed).toBe(true);
  });

  it("an explicit lease wins over the one derived from the timeout", () => {
    const snapshot = parseConfigText(
      `[limiters.upload]\nmax_concurrent = 1\ntimeout = 300.0\nlease = "90s"\n\n` +
        `[limiters.inherits]\nmax_concurrent = 1\n\n[defaults]\ntimeout = "2m"\n`,
      { env: {} },
    );
    expect(snapshot.limiters.get("upload")!.concurrency?.leaseMs).toBe(90_000);
    // The timeout a limiter inherits from [defaults] counts too.
    expect(snapshot.limiters.get("inherits")!.concurrency?.leaseMs).toBe(120_000);
  });

  it("really enforces rate_per_second: the burst at once, then exactly one call per 100 ms", async () => {
    let admitted = 0;
    // Hammer it every millisecond for 10 seconds of store time.
    for (let ms = 0; ms < 10_000; ms++) {
      if ((await rs.tryAcquire("api")).allowed) admitted++;
      clock.advance(1);
    }
    // The full burst of 10 at t = 0, then one refill every 100 ms: at 100, 200, …, 9900.
    expect(admitted).toBe(10 + 99);
  });

  it("limits login attempts with a 5-minute sliding window", async () => {
    for (let i = 0; i < 5; i++) expect((await rs.tryAcquire("auth_credential:bob")).allowed).toBe(true);
    const denied = await rs.tryAcquire("auth_credential:bob");
    expect(denied.allowed).toBe(false);
    expect(denied.retryAfterMs).toBe(300_000);
    clock.advance(300_000);
    expect((await rs.tryAcquire("auth_credential:bob")).allowed).toBe(true);
  });

  it("acquire() blocks until the limit allows (no timeout configured)", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    for (let i = 0; i < 10; i++) await rs.acquire("api");
    let done = false;
    const pending = rs.acquire("api").then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(50);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(60);
    await pending;
    expect(done).toBe(true);
  });
});

// Every key rate-sync (Python) documents (docs/configuration.md, docs/engines/*.md) or reads (its config
// dataclasses and loader), in one file, including its [fastapi] table and its engine-switching recipe.
const PYTHON_EVERY_KEY_TOML = `
[stores.cache]
engine = "redis"
url = "redis://localhost:6379/0"
db = 2
password = "secret"
key_prefix = "myapp:ratelimit"
pool_min_size = 2
pool_max_size = 20
socket_timeout = 10.0
socket_connect_timeout = 5.0
timing_margin_ms = 10.0

[stores.db]
engine = "postgres"
url = "postgresql://user:pass@localhost/mydb"
table_name = "rate_limiter_state"
schema_name = "rate_limiting"
auto_create = false
pool_min_size = 5
pool_max_size = 20
timing_margin_ms = 10.0

[stores.dev]
engine = "memory"

[stores.main]
engine = "\${RATE_LIMIT_ENGINE:-memory}"
url = "\${RATE_LIMIT_URL:-}"

[limiters.api]
store = "cache"
algorithm = "token_bucket"
rate_per_second = "\${API_RATE_LIMIT:-10.0}"
max_concurrent = 50
timeout = 30.0
fail_closed = true

[limiters.login]
store = "db"
algorithm = "sliding_window"
limit = 5
window_seconds = 300
fail_closed = false

[limiters."\${DYNAMIC_LIMITER_ID:-api_dynamic}"]
store = "main"
rate_per_second = 3.0
timeout = 0.0

[fastapi]
trusted_proxy_networks = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8"]
`;

describe("rate-sync (Python): every documented key loads", () => {
  it("accepts every key of every engine, the limiters and [fastapi], with the documented meaning", () => {
    const snapshot = parseConfigText(PYTHON_EVERY_KEY_TOML, { env: {} });
    expect(snapshot.stores.get("cache")).toMatchObject({
      engine: "redis",
      db: 2,
      password: "secret",
      keyPrefix: "myapp:ratelimit",
      poolMinSize: 2,
      poolMaxSize: 20,
      socketTimeoutMs: 10_000,
      socketConnectTimeoutMs: 5000,
    });
    expect(snapshot.stores.get("db")).toMatchObject({
      engine: "postgres",
      tableName: "rate_limiter_state",
      schemaName: "rate_limiting",
      autoCreate: false,
      poolMinSize: 5,
      poolMaxSize: 20,
    });
    expect(snapshot.stores.get("main")).toMatchObject({ engine: "memory" });
    const api = snapshot.limiters.get("api")!;
    expect(api.rate).toEqual({ kind: "token_bucket", intervalMs: 100, burst: 10 });
    expect(api.concurrency?.maxConcurrent).toBe(50);
    expect(api.timeoutMs).toBe(30_000);
    expect(api.onStoreError).toBe("deny");
    const login = snapshot.limiters.get("login")!;
    expect(login.rate).toEqual({ kind: "sliding_window", limit: 5, windowMs: 300_000 });
    expect(login.onStoreError).toBe("allow");
    expect(snapshot.limiters.get("api_dynamic")?.timeoutMs).toBe(0);
  });

  it("the engine-switching recipe gives a redis store when its variables are set", () => {
    const snapshot = parseConfigText(PYTHON_EVERY_KEY_TOML, {
      env: {
        RATE_LIMIT_ENGINE: "redis",
        RATE_LIMIT_URL: "redis://prod-redis:6379/0",
        API_RATE_LIMIT: "1000.0",
      },
    });
    expect(snapshot.stores.get("main")).toMatchObject({ engine: "redis", url: "redis://prod-redis:6379/0" });
    expect(snapshot.limiters.get("api")!.rate).toMatchObject({ intervalMs: 1, burst: 1000 });
  });

  it("still validates the accepted, unused keys", () => {
    const bad = (text: string) => {
      try {
        parseConfigText(text, { env: {} });
      } catch (error) {
        if (isConfigError(error)) return error.issues.map((issue) => `${issue.path}: ${issue.message}`);
        throw error;
      }
      return [];
    };
    expect(bad(`[stores.r]\nengine = "redis"\nurl = "redis://x"\ntiming_margin_ms = -1\n`)).toEqual([
      "stores.r.timing_margin_ms: must not be negative, got -1",
    ]);
    expect(bad(`[fastapi]\ntrusted_proxy_networks = "10.0.0.0/8"\n`)).toEqual([
      `fastapi.trusted_proxy_networks: expected a list of strings, got "10.0.0.0/8"`,
    ]);
    expect(bad(`[fastapi]\ntrusted_proxies = []\n`)).toEqual([
      `fastapi.trusted_proxies: unknown key "trusted_proxies" in [fastapi]`,
    ]);
  });
});
