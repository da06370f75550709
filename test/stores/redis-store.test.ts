/**
 * The shared store conformance suite, on a real Redis.
 */

import { afterAll } from "vitest";
import { describeStoreConformance } from "../conformance/store-conformance.ts";
import { requireRedis } from "../helpers/stores.ts";
import { redisFixture } from "./redis/setup.ts";

const redis = await requireRedis();

if (redis.available) {
  // One store for the whole file (one connection, as in production); scenarios use limiter ids of their own.
  const fixture = redisFixture(redis.url);
  afterAll(() => fixture.close());
  describeStoreConformance("redis store", () => ({ store: fixture.store, cleanup: () => fixture.clean() }));
}
