/**
 * `[lists]` on every store: a key on the deny list is refused and one on the allow list admitted without the
 * store ever being asked — the store holds nothing afterwards (counted on the store itself: the memory store's
 * key count, a SCAN of every Redis node, the rows of the PostgreSQL table) — while a key on no list still
 * writes state, which proves each count can see a write.
 */

import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRateLimitExceededError, RateSync } from "../../src/index.ts";
import { type PrivateCluster, startCluster } from "../helpers/redis-cluster.ts";
import { requirePostgres, requireRedis, uniqueName } from "../helpers/stores.ts";
import { adminSql, dropStoreObjects } from "../stores/postgres/setup.ts";

const redis = await requireRedis();
const postgres = await requirePostgres();

/** One store to run the scenario on. */
interface Backend {
  readonly name: string;
  readonly available: boolean;
  setup?(): Promise<void>;
  /** The `[stores.main]` table. */
  storeToml(): string;
  /** How many state entries the store holds for this file's namespace. */
  count(rs: RateSync): Promise<number>;
  cleanup(): Promise<void>;
}

async function scanCount(url: string, prefix: string): Promise<number> {
  const raw = new Redis(url);
  try {
    let cursor = "0";
    let found = 0;
    do {
      const [next, keys] = await raw.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      found += keys.length;
    } while (cursor !== "0");
    return found;
  } finally {
    raw.disconnect();
  }
}

async function scanDelete(url: string, prefix: string): Promise<void> {
  const raw = new Redis(url);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await raw.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      for (const key of keys) await raw.del(key);
    } while (cursor !== "0");
  } finally {
    raw.disconnect();
  }
}

const redisPrefix = uniqueName("lists_redis");
const clusterPrefix = uniqueName("lists_cluster");
const pgTable = uniqueName("lists_pg");
let cluster: PrivateCluster | undefined;

const backends: Backend[] = [
  {
    name: "memory",
    available: true,
    storeToml: () => '[stores.main]\nengine = "memory"\n',
    // The store is made on first use: one that does not exist yet holds nothing.
    count: async (rs) => Number(rs.metrics().stores.main?.keys ?? 0),
    cleanup: async () => {},
  },
  {
    name: "redis",
    available: redis.available,
    storeToml: () => `[stores.main]\nengine = "redis"\nurl = "${redis.url}"\nkey_prefix = "${redisPrefix}"\n`,
    count: () => scanCount(redis.url, redisPrefix),
    cleanup: () => scanDelete(redis.url, redisPrefix),
  },
  {
    name: "redis cluster",
    // A private cluster is started only where redis-server is (the same gate as the shared server's).
    available: redis.available,
    async setup() {
      cluster = await startCluster();
    },
    storeToml: () =>
      `[stores.main]\nengine = "redis"\ncluster = true\nurl = ${JSON.stringify(cluster!.urls)}\nkey_prefix = "${clusterPrefix}"\ntimeout = "3s"\n`,
    count: async () => {
      let total = 0;
      for (const url of cluster!.urls) total += await scanCount(url, clusterPrefix);
      return total;
    },
    cleanup: async () => cluster?.stop(),
  },
  {
    name: "postgres",
    available: postgres.available,
    storeToml: () =>
      `[stores.main]\nengine = "postgres"\nurl = "${postgres.url}"\ntable_name = "${pgTable}"\ntimeout = "5s"\n`,
    async count() {
      const sql = await adminSql(postgres.url);
      try {
        // The table is created on the store's first use: no table, no row.
        const exists = await sql.unsafe(`SELECT to_regclass('"public"."${pgTable}"') IS NOT NULL AS e`);
        if (exists[0]?.e !== true) return 0;
        const rows = await sql.unsafe(`SELECT count(*)::int AS n FROM "public"."${pgTable}"`);
        return Number(rows[0]?.n);
      } finally {
        await sql.end({ timeout: 1 });
      }
    },
    cleanup: () => dropStoreObjects({ schemaName: "public", tableName: pgTable }, postgres.url),
  },
];

const LIMITS = `
[lists]
allow = ["internal:*"]
deny = ["api:evil-tenant", "*:banned"]

[limiters."api:<tenant>"]
store = "main"
algorithm = "fixed_window"
limit = 1
window = "1h"

[limiters."internal:<service>"]
store = "main"
algorithm = "fixed_window"
limit = 1
window = "1h"

[limiters."slot:<id>"]
store = "main"
max_concurrent = 1
`;

for (const backend of backends) {
  describe.skipIf(!backend.available)(`[lists] on ${backend.name}`, () => {
    let rs: RateSync;

    beforeAll(async () => {
      await backend.setup?.();
      rs = RateSync.fromToml(backend.storeToml() + LIMITS, { quiet: true });
    }, 60_000);

    afterAll(async () => {
      await rs?.close();
      await backend.cleanup();
    });

    it("decides listed keys without writing anything to the store", async () => {
      for (let i = 0; i < 3; i++) {
        const denied = await rs.tryAcquire("api:evil-tenant");
        expect(denied).toMatchObject({ allowed: false, list: "deny", remaining: 0, limiter: "api:<tenant>" });
        expect(denied.retryAfterMs).toBe(Number.POSITIVE_INFINITY);
        // No I/O is needed, so even a remote store answers synchronously.
        expect(rs.tryAcquireSync("slot:banned")).toMatchObject({ allowed: false, list: "deny" });
        // An allowed key is admitted whatever its limit (1 per hour here), and takes no slot.
        expect(await rs.tryAcquire("internal:billing")).toMatchObject({
          allowed: true,
          list: "allow",
          remaining: 1,
          limit: 1,
        });
        expect((await rs.tryAcquire("internal:billing")).lease).toBeUndefined();
      }
      const error = await rs.acquire("api:evil-tenant", { timeout: "1h" }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isRateLimitExceededError(error)).toBe(true);
      expect(isRateLimitExceededError(error) && error.retryAfterMs).toBe(Number.POSITIVE_INFINITY);
      const lease = await rs.acquire("internal:billing");
      expect(lease.decision.list).toBe("allow");
      await lease.release();
      // A composite with a denied member is refused whole; the other member is not asked either.
      const composite = await rs.tryAcquire(["api:good", "api:evil-tenant"]);
      expect(composite).toMatchObject({ allowed: false, list: "deny", key: "api:evil-tenant" });
      expect(await rs.peek("api:evil-tenant")).toMatchObject({ list: "deny", remaining: 0 });
      expect(await rs.peek("internal:billing")).toMatchObject({ list: "allow", remaining: 1 });

      expect(await backend.count(rs)).toBe(0);

      expect(rs.metrics().limiters["api:<tenant>"]).toMatchObject({ deniedByList: 5, denied: 0, allowed: 0 });
      expect(rs.metrics().limiters["slot:<id>"]).toMatchObject({ deniedByList: 3 });
      expect(rs.metrics().limiters["internal:<service>"]).toMatchObject({ allowedByList: 7, allowed: 0 });

      // A key on no list goes to the store as always: the count sees its state.
      expect((await rs.tryAcquire("api:good")).allowed).toBe(true);
      expect((await rs.tryAcquire("api:good")).allowed).toBe(false);
      expect(await backend.count(rs)).toBeGreaterThan(0);
      expect(rs.metrics().limiters["api:<tenant>"]).toMatchObject({ allowed: 1, denied: 1, deniedByList: 5 });
    });

    it("admits an allowed member of a composite without the store, and decides the others", async () => {
      const decision = await rs.tryAcquire(["internal:x", "api:other"]);
      expect(decision.allowed).toBe(true);
      expect(decision.results?.map((d) => d.list)).toEqual(["allow", undefined]);
      const again = await rs.tryAcquire(["internal:x", "api:other"]);
      expect(again).toMatchObject({ allowed: false, key: "api:other" });
      expect(again.list).toBeUndefined();
    });
  });
}
