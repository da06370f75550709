/**
 * The block's TypeScript model (`src/algorithms/block/decide.ts`) and the in-process stores' use of it, on a
 * manual clock: where a block ends, when a repeat escalates and when the row starts over, to the millisecond.
 * The Redis and PostgreSQL encodings are checked against the same rules through RateSync (`test/core/block.test.ts`).
 */

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BLOCK_TAG, type BlockSpec, blockLeftMs, startBlock } from "../../src/algorithms/block/decide.ts";
import type { TokenBucketParams } from "../../src/algorithms/types.ts";
import { decideComposite } from "../../src/stores/in-process.ts";
import { MemoryStore } from "../../src/stores/memory/memory-store.ts";
import { type StoreOp, stateTag } from "../../src/stores/store.ts";
import { FakeClock } from "../helpers/clock.ts";

const spec: BlockSpec = { durationsMs: [100, 1000, 5000], memoryMs: 500, span: 1 };

describe("block model", () => {
  it("a block runs until its end, exclusive", () => {
    expect(blockLeftMs(undefined, 0)).toBe(0);
    expect(blockLeftMs({ untilMs: 200, count: 1 }, 150)).toBe(50);
    expect(blockLeftMs({ untilMs: 200, count: 1 }, 200)).toBe(0);
  });

  it("escalates within block_memory of the previous end, the last step repeating, and starts over after", () => {
    const first = startBlock(spec, undefined, 1000);
    expect(first).toEqual({ state: { untilMs: 1100, count: 1 }, ttlMs: 600, lengthMs: 100 });
    const second = startBlock(spec, first.state, 1100 + 499);
    expect(second.state).toEqual({ untilMs: 1599 + 1000, count: 2 });
    const third = startBlock(spec, second.state, 2599);
    expect(third.lengthMs).toBe(5000);
    const fourth = startBlock(spec, third.state, 7599);
    expect(fourth).toMatchObject({ lengthMs: 5000, state: { count: 4 } });
    // Exactly block_memory after the end: no longer a repeat.
    expect(startBlock(spec, fourth.state, fourth.state.untilMs + 500).state.count).toBe(1);
  });
});

describe("block on the memory store", () => {
  const params: TokenBucketParams = { kind: "token_bucket", intervalMs: 10, burst: 1 };
  const op: StoreOp = { limiterId: "api", key: "k", params, cost: 1, block: spec };

  it("starts on a denial, denies without consuming until the end, escalates, and reset forgets it", async () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ now: clock.now });
    expect(store.decideNow([op], 0).allowed).toBe(true);
    const denied = store.decideNow([op], 0).results[0]!;
    expect(denied).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 100 });
    expect(denied.block).toEqual({ started: true, count: 1, leftMs: 100 });

    clock.advance(99);
    const during = store.decideOneNow(op, 0);
    expect(during).toMatchObject({
      allowed: false,
      retryAfterMs: 1,
      block: { started: false, count: 1, leftMs: 1 },
    });
    expect(await store.peek(op)).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 1 });

    clock.advance(1);
    // Ended: the bucket refilled meanwhile (the blocked calls took nothing).
    expect(store.decideNow([op], 0).allowed).toBe(true);
    expect(store.decideNow([op], 0).results[0]!.block).toEqual({ started: true, count: 2, leftMs: 1000 });

    await store.reset("api", "k");
    expect(store.decideNow([op], 0).allowed).toBe(true);
    expect(store.decideNow([op], 0).results[0]!.block).toEqual({ started: true, count: 1, leftMs: 100 });
  });

  it("a denial by a later op the block covers starts it; one it does not cover does not", () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ now: clock.now });
    const window = { kind: "fixed_window", limit: 1, windowMs: 3_600_000, part: 1 } as const;
    const covering: StoreOp[] = [
      { ...op, key: "a", params: { ...params, burst: 10 }, block: { ...spec, span: 2 } },
      { limiterId: "api", key: "a", params: window, cost: 1 },
    ];
    expect(store.decideNow(covering, 0).allowed).toBe(true);
    expect(store.decideNow(covering, 0).results[0]!.block?.started).toBe(true);

    const other: StoreOp[] = [
      { ...op, key: "b", params: { ...params, burst: 10 } },
      { limiterId: "other", key: "b", params: window, cost: 1 },
    ];
    expect(store.decideNow(other, 0).allowed).toBe(true);
    const byOther = store.decideNow(other, 0);
    expect(byOther.allowed).toBe(false);
    expect(byOther.results[0]!.block).toBeUndefined();
    expect(store.decideNow([other[0]!], 0).allowed).toBe(true);
  });
});

describe("the memory store's lone blocked op", () => {
  it("says what the composite rules say for one op, call after call", () => {
    fc.assert(
      fc.property(
        fc.record({
          durationsMs: fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 3 }),
          memoryMs: fc.integer({ min: 0, max: 40 }),
        }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(
          fc.record({ advance: fc.integer({ min: 0, max: 15 }), cost: fc.integer({ min: 1, max: 3 }) }),
          {
            minLength: 1,
            maxLength: 60,
          },
        ),
        (block, intervalMs, calls) => {
          const clock = new FakeClock();
          const store = new MemoryStore({ now: clock.now });
          const op = (cost: number): StoreOp => ({
            limiterId: "api",
            key: "k",
            params: { kind: "token_bucket", intervalMs, burst: 2 },
            cost,
            block: { ...block, span: 1 },
          });
          const model = new Map<string, { state: unknown; expiresAt: number }>();
          for (const { advance, cost } of calls) {
            clock.advance(advance);
            const now = clock.now();
            const expected = decideComposite<string>([op(cost)], 0, now, {
              refOf: (o) => `${o.key}|${stateTag(o.params)}`,
              same: (a, b) => a === b,
              read: (ref) => {
                const held = model.get(ref);
                return held !== undefined && held.expiresAt > now ? held.state : undefined;
              },
              write: (ref, state, ttlMs) => {
                if (state === undefined || !(ttlMs > 0)) model.delete(ref);
                else model.set(ref, { state, expiresAt: now + ttlMs });
              },
              blockRefOf: (o) => `${o.key}|${BLOCK_TAG}`,
            });
            const actual = store.decideNow([op(cost)], 0);
            expect(actual.allowed).toBe(expected.allowed);
            const { state: _a, ttlMs: _b, ...got } = actual.results[0] as unknown as Record<string, unknown>;
            const {
              state: _c,
              ttlMs: _d,
              ...want
            } = expected.results[0] as unknown as Record<string, unknown>;
            expect(got).toEqual(want);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
