/**
 * The lean single-op decide scripts' TTL upkeep: every write leaves the state hash with an expiry that covers
 * the state, a TTL is never shortened, and the shortcuts (a window's later writes skip the TTL, growing states
 * use `PEXPIRE … GT` when the field exists) hold across refunds that delete the field and so the whole key.
 */

import { afterAll, describe, expect, it } from "vitest";
import type { RateParams } from "../../../src/algorithms/types.ts";
import { stateKey } from "../../../src/stores/redis/keys.ts";
import type { StoreOp } from "../../../src/stores/store.ts";
import { requireRedis } from "../../helpers/stores.ts";
import { redisFixture } from "./setup.ts";

const redis = await requireRedis();

const ALGORITHMS: readonly RateParams[] = [
  { kind: "token_bucket", intervalMs: 1_000, burst: 5 },
  { kind: "leaky_bucket", intervalMs: 1_000, burst: 5 },
  { kind: "fixed_window", limit: 5, windowMs: 60_000 },
  { kind: "sliding_window", limit: 5, windowMs: 60_000 },
  { kind: "sliding_window_counter", limit: 5, windowMs: 60_000 },
];

describe.skipIf(!redis.available)("redis lean decide scripts: TTL upkeep", () => {
  const fixture = redisFixture(redis.url, {}, { overLimitCache: false });
  afterAll(() => fixture.close());
  let run = 0;

  /** A single-op call (the store sends it to the lean script) and the key it writes. */
  const single = (params: RateParams) => {
    run += 1;
    const op: StoreOp = { limiterId: "lean", key: `ttl-${run}`, params, cost: 1 };
    return { op, key: stateKey(fixture.config.keyPrefix, op.limiterId, op.key) };
  };

  for (const params of ALGORITHMS) {
    describe(params.kind, () => {
      it("every allowed write leaves an expiry that covers the state (first, later, and after GT)", async () => {
        const { op, key } = single(params);
        // A leaky bucket queues the second call: let it wait (the other algorithms ignore the wait).
        const first = await fixture.store.decide([op], 5_000);
        expect(first.allowed).toBe(true);
        const ttl1 = await fixture.raw.pttl(key);
        expect(ttl1).toBeGreaterThan(0);
        expect(ttl1).toBeGreaterThanOrEqual(Math.floor(first.results[0]?.resetAfterMs ?? 0) - 5);
        const second = await fixture.store.decide([op], 5_000);
        expect(second.allowed).toBe(true);
        const ttl2 = await fixture.raw.pttl(key);
        // Buckets and the log move their horizon with each write: the expiry must follow it.
        expect(ttl2).toBeGreaterThanOrEqual(Math.floor(second.results[0]?.resetAfterMs ?? 0) - 5);
      });

      it("never shortens a longer TTL (another state tag of the hash may need it)", async () => {
        const { op, key } = single(params);
        await fixture.raw.hset(key, "other", "x");
        await fixture.raw.pexpire(key, 3_600_000);
        await fixture.store.decide([op], 0); // no state field yet
        expect(await fixture.raw.pttl(key)).toBeGreaterThan(3_500_000);
        await fixture.store.decide([op], 0); // state field present
        expect(await fixture.raw.pttl(key)).toBeGreaterThan(3_500_000);
      });

      it("a refund that deletes the key is followed by a write that sets the TTL again", async () => {
        const { op, key } = single(params);
        await fixture.store.decide([op], 0);
        await fixture.store.refund([op]);
        // Windows and buckets forget a fully refunded call (the field, hence the key, is gone); the exact log
        // too. Either way the next write must leave a TTL.
        await fixture.store.decide([op], 0);
        await fixture.store.decide([op], 0);
        expect(await fixture.raw.pttl(key)).toBeGreaterThan(0);
      });

      it("state written by the general script keeps its TTL through lean writes of the same window", async () => {
        const { op, key } = single(params);
        // A composite with a second key runs the general script.
        const other = { ...op, key: `${op.key}-other` };
        await fixture.store.decide([op, other], 0);
        expect(await fixture.raw.pttl(key)).toBeGreaterThan(0);
        await fixture.store.decide([op], 0);
        expect(await fixture.raw.pttl(key)).toBeGreaterThan(0);
      });
    });
  }
});
