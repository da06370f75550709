/**
 * Blocking after a denial through RateSync on Redis and PostgreSQL (see `block-suite.ts`), contention included.
 */

import { Redis } from "ioredis";
import { requirePostgres, requireRedis, uniqueName } from "../helpers/stores.ts";
import { dropStoreObjects } from "../stores/postgres/setup.ts";
import { deleteByPrefix } from "../stores/redis/setup.ts";
import { blockSuite } from "./block-suite.ts";

const redis = await requireRedis();
const postgres = await requirePostgres();
const redisPrefix = uniqueName("block");
const pgTable = uniqueName("block");

blockSuite({
  name: "redis",
  available: redis.available,
  store: { engine: "redis", url: redis.url, key_prefix: redisPrefix },
  cleanup: async () => {
    const raw = new Redis(redis.url);
    await deleteByPrefix(raw, redisPrefix);
    raw.disconnect();
  },
  shared: true,
  remote: true,
});
blockSuite({
  name: "postgres",
  available: postgres.available,
  store: { engine: "postgres", url: postgres.url, table_name: pgTable },
  cleanup: () => dropStoreObjects({ schemaName: "public", tableName: pgTable }, postgres.url),
  shared: true,
  remote: true,
});
