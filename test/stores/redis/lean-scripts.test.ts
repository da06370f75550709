/**
 * The TTL upkeep of single-op decisions (the lean scripts, and the batch script's single-op path): every write leaves the state hash with an expiry that covers
 * the state, a TTL is never shortened, and the shortcuts (a window's later writes skip the TTL, growing states
 * use `PEXPIRE … GT` when the field exists) hold across refunds that delete the field and so the whole key.
 */

import { afterAll, describe, expect, it } from "vitest";
import type { RateParams } from "../../../src/algorithms/types.ts";
import { encodeBatch, encodeCall, leanOf } from "../../../src/stores/redis/codec.ts";
import { stateKey } from "../../../src/stores/redis/keys.ts";
import { BATCH_DECIDE_SCRIPT, LEAN_DECIDE_SCRIPTS } from "../../../src/stores/redis/lua.ts";
import type { StoreOp } from "../../../src/stores/store.ts";
import { decideTimed } from "../../helpers/store-times.ts";
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
        // The TTL read after a decide must cover its resetAfter, less the time since the decide ran.
        const decideThenTtl = async () => {
          const start = performance.now();
          const batch = await fixture.store.decide([op], 5_000);
          const ttl = await fixture.raw.pttl(key);
          expect(batch.allowed).toBe(true);
          const resetAfterMs = batch.results[0]?.resetAfterMs ?? 0;
          expect(ttl).toBeGreaterThanOrEqual(Math.floor(resetAfterMs - (performance.now() - start)) - 1);
        };
        await decideThenTtl();
        // Buckets and the log move their horizon with each write: the expiry must follow it.
        await decideThenTtl();
        await decideThenTtl();
      });

      it("the expiry never comes before the state's end, to the fraction of a millisecond", async () => {
        // Redis counts a TTL from its current whole millisecond while the decision's clock has microseconds: a
        // TTL rounded up from the decision's time alone could drop the key up to 1 ms early (seen as a call
        // allowed on a 1 ms window where the model still counted the previous one).
        const { op, key } = single(params);
        for (let write = 0; write < 3; write++) {
          const { batch, storeNowMs } = await decideTimed(fixture.store, [op], 5_000);
          expect(batch.allowed).toBe(true);
          const expiresAt = Number(await fixture.raw.call("PEXPIRETIME", key));
          const stateEnd = storeNowMs[0]! + (batch.results[0]?.resetAfterMs ?? 0);
          expect(expiresAt, `write ${write}`).toBeGreaterThanOrEqual(stateEnd);
        }
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

  it("the pre-7.0 branch (no PEXPIRE GT) keeps the TTL up with a growing state", async () => {
    // This server is 7.0+; force the branch older servers take by hiding the version from the script.
    const script = LEAN_DECIDE_SCRIPTS.tb.replace("redis.REDIS_VERSION_NUM == nil", "true");
    expect(script).not.toBe(LEAN_DECIDE_SCRIPTS.tb);
    const { op, key } = single({ kind: "token_bucket", intervalMs: 60_000, burst: 5 });
    const call = leanOf(encodeCall(fixture.config.keyPrefix, [op], 0, ""));
    if (call === undefined) throw new Error("a token bucket op has a lean script");
    let last = 0;
    for (let i = 1; i <= 3; i++) {
      await fixture.raw.eval(script, 1, call.key, ...call.args);
      const ttl = await fixture.raw.pttl(key);
      // Each call moves tat one interval further: the TTL follows (within the ms rounding).
      expect(ttl).toBeGreaterThanOrEqual(i * 60_000 - 50);
      expect(ttl).toBeGreaterThan(last);
      last = ttl;
    }
  });

  it("the batch script's single-op path keeps the TTL up with a growing state, on 7.0+ and before", async () => {
    // Calls of one rate op in a batch take the same TTL shortcuts as the lean scripts.
    const older = BATCH_DECIDE_SCRIPT.replace("redis.REDIS_VERSION_NUM == nil", "true");
    expect(older).not.toBe(BATCH_DECIDE_SCRIPT);
    for (const script of [BATCH_DECIDE_SCRIPT, older]) {
      const { op, key } = single({ kind: "token_bucket", intervalMs: 60_000, burst: 5 });
      const call = encodeCall(fixture.config.keyPrefix, [op], 0, "");
      let last = 0;
      for (let i = 1; i <= 3; i++) {
        const [numberOfKeys, ...rest] = encodeBatch([call]);
        await fixture.raw.eval(script, numberOfKeys as number, ...rest);
        const ttl = await fixture.raw.pttl(key);
        expect(ttl).toBeGreaterThanOrEqual(i * 60_000 - 50);
        expect(ttl).toBeGreaterThan(last);
        last = ttl;
      }
    }
  });

  it("the batch script's single-op path: a window's later writes keep the expiry of its first", async () => {
    const { op, key } = single({ kind: "fixed_window", limit: 5, windowMs: 60_000 });
    const calls = [0, 1, 2].map(() => encodeCall(fixture.config.keyPrefix, [op], 0, ""));
    const [numberOfKeys, ...rest] = encodeBatch(calls);
    await fixture.raw.eval(BATCH_DECIDE_SCRIPT, numberOfKeys as number, ...rest);
    expect(await fixture.raw.hget(key, "fw60000")).toMatch(/:3$/);
    expect(await fixture.raw.pttl(key)).toBeGreaterThan(0);
  });
});
