import { Redis } from "ioredis";
import { afterAll, describe } from "vitest";
import { requireRedis, uniqueName } from "../helpers/stores.ts";
import { deleteByPrefix } from "../stores/redis/setup.ts";
import { describeCounting } from "./counting-suite.ts";

const redis = await requireRedis();
// Every key this file creates lives under its own prefix, deleted at the end.
const prefix = uniqueName("observability_counts");

describe.skipIf(!redis.available)("on Redis", () => {
  afterAll(async () => {
    const raw = new Redis(redis.url);
    try {
      await deleteByPrefix(raw, prefix);
    } finally {
      raw.disconnect();
    }
  });

  describeCounting("redis", () => ({
    storeToml: `engine = "redis"\nurl = "${redis.url}"\nkey_prefix = "${prefix}"`,
    overLimitCache: true,
  }));
});
