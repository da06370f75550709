import { describe, expect, it } from "vitest";
import { sameJson } from "../../src/config/same-json.ts";

// Values of every kind JSON treats alike or apart: each pair of them must get JSON.stringify's answer.
const VALUES: unknown[] = [
  0,
  -0,
  1,
  1.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  null,
  undefined,
  "",
  "0",
  "null",
  "2020-01-01T00:00:00.000Z",
  true,
  false,
  [],
  [1],
  [null],
  [undefined],
  [Number.NaN],
  {},
  { a: 1 },
  { a: 1, b: undefined },
  { b: 2, a: 1 },
  { a: 1, b: 2 },
  { a: undefined },
  { a: 2, b: undefined },
  { b: undefined, a: 1 },
  { a: 1, b: null },
  [1, undefined],
  [2, undefined],
  // biome-ignore lint/suspicious/noSparseArray: a hole is written as null, like undefined
  [1, , 3],
  [1, null, 3],
  { a: () => 1 },
  Object.assign(Object.create(null), { a: 1 }),
  new Date("2020-01-01T00:00:00.000Z"),
  { toJSON: () => "x" },
  "x",
  { rate: { kind: "token_bucket", intervalMs: 100, burst: 10 }, timeoutMs: null },
  { rate: { kind: "token_bucket", intervalMs: 50, burst: 10 }, timeoutMs: null },
  { rate: { kind: "token_bucket", intervalMs: 100, burst: 10 }, timeoutMs: 0 },
  [["memory", { id: "memory", engine: "memory", maxKeys: 1 }]],
  [["memory", { id: "memory", engine: "memory", maxKeys: 2 }]],
];

describe("sameJson", () => {
  it("answers as comparing JSON.stringify of both does, for every pair", () => {
    for (const a of VALUES) {
      for (const b of VALUES) {
        expect([a, b, sameJson(a, b)]).toEqual([a, b, JSON.stringify(a) === JSON.stringify(b)]);
      }
    }
  });

  it("compares equal copies of nested config as the same", () => {
    const config = () => ({ id: "api", policy: { name: "api", quota: 10 }, shadow: false, list: [1, "a"] });
    expect(sameJson(config(), config())).toBe(true);
  });
});
