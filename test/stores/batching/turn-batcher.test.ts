import { describe, expect, it } from "vitest";
import { TurnBatcher } from "../../../src/stores/batching/turn-batcher.ts";

/** A batcher whose `send` records each batch and answers every item with its double. */
function doubling(options: { maxItems?: number; maxBytes?: number } = {}) {
  const batches: number[][] = [];
  const batcher = new TurnBatcher<number, number>({
    ...options,
    sizeOf: (item) => item,
    send: async (items) => {
      batches.push([...items]);
      return items.map((item) => item * 2);
    },
  });
  return { batcher, batches };
}

describe("TurnBatcher", () => {
  it("sends the items of one turn as one batch, replies in order", async () => {
    const { batcher, batches } = doubling();
    const replies = await Promise.all([1, 2, 3].map((item) => batcher.submit(item)));
    expect(replies).toEqual([2, 4, 6]);
    expect(batches).toEqual([[1, 2, 3]]);
    expect(batcher.stats()).toEqual({ batches: 1, items: 3, sizes: [0, 0, 1] });
  });

  it("sends a lone item at the end of its turn, and items of later turns in later batches", async () => {
    const { batcher, batches } = doubling();
    expect(await batcher.submit(5)).toBe(10);
    expect(await batcher.submit(6)).toBe(12);
    expect(batches).toEqual([[5], [6]]);
  });

  it("gathers calls made by continuations of the same turn's replies", async () => {
    const { batcher, batches } = doubling();
    // Each chain submits again as soon as its reply arrives: the second round is one batch too.
    await Promise.all(
      [1, 2, 3, 4].map((item) => batcher.submit(item).then((reply) => batcher.submit(reply))),
    );
    expect(batches).toEqual([
      [1, 2, 3, 4],
      [2, 4, 6, 8],
    ]);
  });

  it("starts a new batch at the item bound and at the byte bound", async () => {
    const counted = doubling({ maxItems: 2 });
    await Promise.all([1, 1, 1, 1, 1].map((item) => counted.batcher.submit(item)));
    expect(counted.batches).toEqual([[1, 1], [1, 1], [1]]);
    const sized = doubling({ maxBytes: 10 });
    await Promise.all([4, 4, 4, 20, 1].map((item) => sized.batcher.submit(item)));
    expect(sized.batches).toEqual([[4, 4], [4], [20], [1]]);
  });

  it("fails every item of a batch whose send fails, and only those", async () => {
    let calls = 0;
    const batcher = new TurnBatcher<number, number>({
      send: async (items) => {
        calls += 1;
        if (calls === 1) throw new Error("connection lost");
        return items;
      },
    });
    const first = await Promise.allSettled([batcher.submit(1), batcher.submit(2)]);
    expect(first.map((result) => result.status)).toEqual(["rejected", "rejected"]);
    expect(await batcher.submit(3)).toBe(3);
  });

  it("fails a batch answered with the wrong number of replies", async () => {
    const batcher = new TurnBatcher<number, number>({ send: async () => [1] });
    const results = await Promise.allSettled([batcher.submit(1), batcher.submit(2)]);
    expect(results.map((result) => result.status)).toEqual(["rejected", "rejected"]);
  });

  it("fails the batch when send throws synchronously", async () => {
    const batcher = new TurnBatcher<number, number>({
      send: () => {
        throw new Error("encode failed");
      },
    });
    await expect(batcher.submit(1)).rejects.toThrow("encode failed");
  });
});
