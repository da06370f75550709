/**
 * `on_store_error = "local"` and `max_concurrent` across an outage and its recovery, on Redis and PostgreSQL
 * behind a TCP proxy that is cut and restored: slots granted locally while the store was down are unknown to
 * the store when it comes back, yet still held, so they must keep counting against the limit until released.
 * Once the store is back, one process never holds more than `max_concurrent` slots of a key.
 */

import { afterEach, describe, expect, it } from "vitest";
import { type Lease, RateSync } from "../../src/index.ts";
import { requirePostgres, requireRedis, uniqueName } from "../helpers/stores.ts";
import { TcpProxy } from "../helpers/tcp-proxy.ts";
import { dropStoreObjects } from "../stores/postgres/setup.ts";

const redis = await requireRedis();
const postgres = await requirePostgres();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Backend {
  readonly name: string;
  readonly available: boolean;
  readonly url: string;
  /** The `[stores.s]` body (after `engine`), pointing at `host:port`. */
  readonly store: (port: number) => string;
  readonly cleanup: () => Promise<void>;
}

const pgTable = uniqueName("local_slots");
const backends: Backend[] = [
  {
    name: "redis",
    available: redis.available,
    url: redis.url,
    store: (port) => `engine = "redis"
url = "redis://127.0.0.1:${port}"
key_prefix = "${uniqueName("local_slots")}"
timeout = "300ms"`,
    cleanup: async () => {},
  },
  {
    name: "postgres",
    available: postgres.available,
    url: postgres.url,
    store: (port) => {
      const url = new URL(postgres.url);
      url.hostname = "127.0.0.1";
      url.port = String(port);
      return `engine = "postgres"
url = "${url.toString()}"
table_name = "${pgTable}"
timeout = "1s"`;
    },
    cleanup: () => dropStoreObjects({ schemaName: "public", tableName: pgTable }, postgres.url),
  },
];

for (const backend of backends) {
  describe.skipIf(!backend.available)(`local slots after the ${backend.name} store recovers`, () => {
    const closers: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const close of closers.splice(0).reverse()) await close();
    });

    /**
     * A limiter `id` of two slots under `on_store_error = "local"`, on the store behind a TCP proxy the test
     * can cut; `take()` asks for a slot and keeps its lease in `held`.
     */
    async function setUp(id: string) {
      const target = new URL(backend.url);
      const proxy = await TcpProxy.start({
        host: target.hostname || "127.0.0.1",
        port: Number(target.port || (backend.name === "redis" ? 6379 : 5432)),
      });
      closers.push(() => proxy.close());
      const rs = RateSync.fromToml(
        `
[stores.s]
${backend.store(proxy.port)}

[limiters.${id}]
store = "s"
max_concurrent = 2
lease = "60s"
on_store_error = "local"
`,
        { env: {} },
      );
      closers.push(() => rs.close(), backend.cleanup);
      const held: Lease[] = [];
      const take = async (): Promise<boolean> => {
        const decision = await rs.tryAcquire(id);
        if (decision.allowed && decision.lease) held.push(decision.lease);
        return decision.allowed;
      };
      return { proxy, rs, held, take };
    }

    it("slots granted locally during the outage count against max_concurrent until released", async () => {
      const { proxy, rs, held, take } = await setUp("upload");

      // Healthy: the store decides (and the table exists before the cut).
      expect(await take()).toBe(true);
      await held.pop()?.release();

      // Outage: both slots are granted locally.
      proxy.cut();
      expect(await take()).toBe(true);
      expect(await take()).toBe(true);
      expect(await take()).toBe(false);
      expect(held).toHaveLength(2);

      // Recovery: the store answers again, and knows nothing of the two local slots.
      proxy.restore();
      let storeAnswers = false;
      for (let i = 0; i < 100 && !storeAnswers; i++) {
        await sleep(100);
        const decision = await rs.tryAcquire("upload");
        storeAnswers = decision.degraded === undefined;
        if (decision.allowed && decision.lease) held.push(decision.lease);
      }
      expect(storeAnswers).toBe(true);
      // Still two held: the store's answers cannot add a third and a fourth.
      expect(held).toHaveLength(2);
      expect(await take()).toBe(false);
      expect(await take()).toBe(false);
      expect(held).toHaveLength(2);

      // Releasing a local slot makes room for one store slot, and only one.
      await held.shift()?.release();
      expect(await take()).toBe(true);
      expect(await take()).toBe(false);
      expect(held).toHaveLength(2);
      // Once every local slot is gone, the store alone decides: two slots in all.
      await held.shift()?.release();
      expect(await take()).toBe(true);
      expect(await take()).toBe(false);
      expect(held).toHaveLength(2);
      for (const lease of held.splice(0)) await lease.release();
    }, 60_000);

    it("slots held in the store when it fails count against max_concurrent in the local limiter", async () => {
      const { proxy, rs, held, take } = await setUp("upload_b");

      // One slot from the store, then the store fails: one more, locally, and no third.
      expect(await take()).toBe(true);
      proxy.cut();
      const local = await rs.tryAcquire("upload_b");
      expect(local.degraded).toBe("local");
      expect(local.allowed).toBe(true);
      if (local.lease) held.push(local.lease);
      const third = await rs.tryAcquire("upload_b");
      expect(third.degraded).toBe("local");
      expect(third.allowed).toBe(false);
      expect(third.limit).toBe(2);
      // Releasing the store's slot (the release itself fails on the cut link) frees room locally.
      await held.shift()?.release();
      expect(await take()).toBe(true);
      expect(held).toHaveLength(2);
      proxy.restore();
      for (const lease of held.splice(0)) await lease.release();
    }, 60_000);
  });
}
