/**
 * @module
 * Shared pieces of the batch tests: a store on a private Redis Cluster for one `describe` block, and the check
 * that a failed batch failed each of its callers.
 */

import { afterAll, beforeAll, expect } from "vitest";
import { StoreError } from "../../../src/errors.ts";
import { RedisStore } from "../../../src/stores/redis/index.ts";
import { type PrivateCluster, startCluster } from "../../helpers/redis-cluster.ts";
import { redisConfig } from "../redis/setup.ts";

/** A store (over-limit cache off) and its key prefix, once the block's `beforeAll` has run. */
export interface ClusterStore {
  readonly store: RedisStore;
  readonly prefix: string;
}

/**
 * Starts a private 3-node Redis Cluster and a store on it before the tests of the calling `describe` block, and
 * stops both after them. Read the fields inside the tests (they are set by `beforeAll`).
 */
export function clusterStoreForBlock(): ClusterStore {
  let cluster: PrivateCluster | undefined;
  const fixture: { store: RedisStore | undefined; prefix: string } = { store: undefined, prefix: "" };
  beforeAll(async () => {
    cluster = await startCluster();
    const config = redisConfig([...cluster.urls], { cluster: true, timeoutMs: 3_000 });
    fixture.prefix = config.keyPrefix;
    fixture.store = new RedisStore(config, { overLimitCache: false });
  }, 60_000);
  afterAll(async () => {
    await fixture.store?.close();
    await cluster?.stop();
  });
  return {
    get store(): RedisStore {
      if (fixture.store === undefined) throw new Error("the cluster store is made in beforeAll");
      return fixture.store;
    },
    get prefix(): string {
      return fixture.prefix;
    },
  };
}

/**
 * A batch that failed: `batches` batches were sent (one), every caller saw a {@link StoreError}, and the store
 * counted `errors` failures, one per caller.
 */
export function expectEachCallerFailed(
  settled: readonly PromiseSettledResult<unknown>[],
  batches: number,
  errors: number,
): void {
  expect(batches).toBe(1);
  for (const outcome of settled) {
    expect(outcome.status).toBe("rejected");
    expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(StoreError);
  }
  expect(errors).toBe(settled.length);
}
