/**
 * Redis stores on connections the application provides or describes: an ioredis client handed over in code
 * (`client = "<name>"` + `clients`), the master a real Redis Sentinel names (`sentinels`, `name`), and a TLS-only
 * server with a self-signed certificate made by the test (`tls = { ca = … }`). The Sentinel and TLS servers are
 * private ones started here; the shared Redis only ever sees keys under a unique prefix.
 */

import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RateSync } from "../../src/core/rate-sync.ts";
import { isConfigError, isStoreError } from "../../src/errors.ts";
import { PrivateRedis } from "../helpers/private-redis.ts";
import {
  type SentinelSetup,
  startSentinel,
  startTlsRedis,
  type TlsRedis,
} from "../helpers/redis-topologies.ts";
import { requireRedis, uniqueName } from "../helpers/stores.ts";
import { deleteByPrefix } from "./redis/setup.ts";

const redis = await requireRedis();

/** A config of one redis store `main` (settings `store`) and a fixed window of 3 per day on it. */
function config(store: Record<string, unknown>) {
  return {
    stores: { main: { engine: "redis", ...store } },
    limiters: { api: { store: "main", algorithm: "fixed_window", limit: 3, window: "1d" } },
  };
}

/** How many of `calls` decisions on `api` were allowed. */
async function admitted(rs: RateSync, calls: number): Promise<number> {
  let allowed = 0;
  for (let i = 0; i < calls; i++) if ((await rs.tryAcquire("api")).allowed) allowed++;
  return allowed;
}

/** TCP handles that hold the event loop open (an unref'd socket is not listed). */
function refdSockets(): number {
  return process.getActiveResourcesInfo().filter((name) => name === "TCPWrap").length;
}

describe.skipIf(!redis.available)("a Redis store on a client the application hands over", () => {
  let client: Redis;
  const prefixes: string[] = [];
  const prefix = () => {
    const name = uniqueName("redis_client");
    prefixes.push(name);
    return name;
  };

  beforeAll(async () => {
    client = new Redis(redis.url);
    await client.ping();
  });

  afterAll(async () => {
    for (const name of prefixes) await deleteByPrefix(client, name);
    client.disconnect();
  });

  it("decides on the client with the store's own settings, and close() leaves the client open and untouched", async () => {
    const keyPrefix = prefix();
    const events = ["error", "connect", "ready", "close", "reconnecting"] as const;
    const listenersBefore = events.map((event) => client.listenerCount(event));
    const socketsBefore = refdSockets();
    const rs = RateSync.fromConfig(config({ client: "app", key_prefix: keyPrefix, timeout: "2s" }), {
      clients: { app: client },
    });
    expect(await admitted(rs, 5)).toBe(3);
    // The state is on the client's server, under the store's key_prefix.
    const keys = await client.keys(`${keyPrefix}:*`);
    expect(keys.length).toBeGreaterThan(0);
    // An idle client of the application stays as the application set it up: ref'd, no listeners of ours.
    expect(refdSockets()).toBe(socketsBefore);
    expect(events.map((event) => client.listenerCount(event))).toEqual(listenersBefore);
    await rs.close();
    expect(client.status).toBe("ready");
    expect(await client.ping()).toBe("PONG");
  });

  it("two instances share one client, each with its own prefix, and the client's own commands still work", async () => {
    const a = RateSync.fromConfig(config({ client: "app", key_prefix: prefix() }), {
      clients: { app: client },
    });
    const b = RateSync.fromConfig(config({ client: "app", key_prefix: prefix() }), {
      clients: { app: client },
    });
    try {
      expect(await admitted(a, 4)).toBe(3);
      expect(await admitted(b, 4)).toBe(3);
      const key = `${prefixes.at(-1)}:own`;
      await client.set(key, "1");
      expect(await client.get(key)).toBe("1");
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("names a missing client, or one of the wrong kind, when the instance is built", () => {
    const missing = thrown(() => {
      RateSync.fromConfig(config({ client: "cache" }), { clients: { app: client } });
    });
    expect(isConfigError(missing)).toBe(true);
    expect(String((missing as Error).message)).toMatch(/stores\.main\.client: no client "cache" was given/);
    expect(String((missing as Error).message)).toContain('(given: "app")');
    const wrongKind = thrown(() => {
      RateSync.fromConfig(config({ client: "app" }), { clients: { app: {} as never } });
    });
    expect(String((wrongKind as Error).message)).toContain(
      'client "app" is not an ioredis Redis or Cluster instance',
    );
  });

  it("refuses connection settings beside client: the client brings its own", () => {
    const error = thrown(() => {
      RateSync.fromConfig(config({ client: "app", url: redis.url, tls: true }), {
        clients: { app: client },
      });
    });
    expect(isConfigError(error)).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain('stores.main.url: "url" cannot be used with client');
    expect(message).toContain('stores.main.tls: "tls" cannot be used with client');
  });
});

describe.skipIf(!redis.available)("a client handed over keeps the guarded store's protections", () => {
  let server: PrivateRedis;
  let client: Redis;

  beforeAll(async () => {
    server = await PrivateRedis.start();
    // As an application might set it up; the store's time budget bounds every call regardless.
    client = new Redis(server.url, { maxRetriesPerRequest: 0 });
    client.on("error", () => {});
    await client.ping();
  });

  afterAll(async () => {
    client.disconnect();
    await server.stop();
  });

  it("reloads scripts the server forgot (NOSCRIPT), and a frozen server costs the time budget, then recovers", async () => {
    const rs = RateSync.fromConfig(
      config({ client: "app", key_prefix: uniqueName("redis_guard"), timeout: "200ms" }),
      {
        clients: { app: client },
        quiet: true,
      },
    );
    try {
      expect((await rs.tryAcquire("api")).allowed).toBe(true);
      await client.script("FLUSH");
      expect((await rs.tryAcquire("api")).allowed).toBe(true);
      server.freeze();
      const errors: unknown[] = [];
      rs.on("storeError", (event) => errors.push(event));
      const during = await rs.tryAcquire("api");
      expect(during.degraded).toBe("store-error");
      expect(errors.length).toBeGreaterThan(0);
      server.resume();
      // The breaker lets a probe through after its cool-down; the store answers again by itself.
      let recovered = false;
      for (let i = 0; i < 100 && !recovered; i++) {
        const decision = await rs.tryAcquire("api");
        recovered = decision.degraded === undefined;
        if (!recovered) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(recovered).toBe(true);
    } finally {
      server.resume();
      await rs.close();
    }
    expect(await client.ping()).toBe("PONG");
  });
});

describe.skipIf(!redis.available)("Redis Sentinel", () => {
  let setup: SentinelSetup;

  beforeAll(async () => {
    setup = await startSentinel();
  }, 30_000);

  afterAll(async () => {
    await setup?.stop();
  });

  it("connects to the master the Sentinel names and decides there", async () => {
    const keyPrefix = uniqueName("redis_sentinel");
    const rs = RateSync.fromToml(
      `[stores.main]
engine = "redis"
sentinels = ["${setup.sentinel}"]
name = "${setup.name}"
key_prefix = "${keyPrefix}"

[limiters.api]
store = "main"
algorithm = "fixed_window"
limit = 3
window = "1d"
`,
    );
    const master = new Redis({ host: "127.0.0.1", port: setup.masterPort });
    try {
      expect(await admitted(rs, 5)).toBe(3);
      expect((await master.keys(`${keyPrefix}:*`)).length).toBeGreaterThan(0);
    } finally {
      await rs.close();
      master.disconnect();
    }
  });

  it("validates sentinels and name together", () => {
    const issues = (store: Record<string, unknown>) => {
      try {
        RateSync.fromConfig(config(store));
        return "";
      } catch (error) {
        return (error as Error).message;
      }
    };
    expect(issues({ sentinels: ["127.0.0.1:26379"] })).toContain('missing "name"');
    expect(issues({ url: "redis://x", name: "m" })).toContain('stores.main.name: "name" needs sentinels');
    expect(issues({ sentinels: ["127.0.0.1"], name: "m" })).toContain('item 0: expected "host:port"');
    expect(issues({ sentinels: ["127.0.0.1:1"], name: "m", url: "redis://x" })).toContain(
      '"url" cannot be used with sentinels',
    );
    expect(issues({})).toContain('missing "url" (or "sentinels" with "name", or "client")');
    expect(issues({ sentinels: ["127.0.0.1:26379", "[::1]:26380"], name: "m" })).toBe("");
  });
});

describe.skipIf(!redis.available)("Redis over TLS", () => {
  let server: TlsRedis;

  beforeAll(async () => {
    server = await startTlsRedis();
  }, 30_000);

  afterAll(async () => {
    await server?.stop();
  });

  const tlsConfig = (tls: string) => `[stores.main]
engine = "redis"
url = "${server.url}"
key_prefix = "${uniqueName("redis_tls")}"
timeout = "2s"
tls = ${tls}

[limiters.api]
store = "main"
algorithm = "fixed_window"
limit = 3
window = "1d"
on_store_error = "deny"
`;

  it("trusts the certificate authority of tls.ca and decides over TLS", async () => {
    const rs = RateSync.fromToml(tlsConfig(`{ ca = "${server.caFile}" }`));
    try {
      expect(await admitted(rs, 5)).toBe(3);
    } finally {
      await rs.close();
    }
  });

  it("refuses a certificate it does not trust (without tls.ca, the system's authorities)", async () => {
    const rs = RateSync.fromToml(tlsConfig("true"), { quiet: true });
    try {
      const error = await firstStoreError(rs);
      expect(error.decision.allowed).toBe(false);
      expect(error.decision.degraded).toBe("store-error");
      expect(isStoreError(error.error)).toBe(true);
      expect(error.error.message).toMatch(/certificate/i);
    } finally {
      await rs.close();
    }
  });

  it("names an unreadable tls file in the store's error", async () => {
    const rs = RateSync.fromToml(tlsConfig('{ ca = "/nonexistent/ca.pem" }'), { quiet: true });
    try {
      const { error } = await firstStoreError(rs);
      expect(isStoreError(error)).toBe(true);
      expect(error.message).toContain('cannot read tls.ca "/nonexistent/ca.pem" (ENOENT)');
    } finally {
      await rs.close();
    }
  });
});

/** The decision of one call on `api` that the store failed (on_store_error = "deny"), and the store's error. */
async function firstStoreError(rs: RateSync) {
  const errors: Error[] = [];
  rs.on("storeError", (event) => errors.push(event.error));
  const decision = await rs.tryAcquire("api");
  const error = errors[0];
  if (error === undefined) throw new Error(`expected a store error, got ${JSON.stringify(decision)}`);
  return { decision, error };
}

/** What `fn` throws (undefined when it does not). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}
