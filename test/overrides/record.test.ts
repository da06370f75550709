/** What a store hands back is checked before anything of it is used; what is written is bounded. */

import { describe, expect, it } from "vitest";
import {
  checkPatch,
  decodeRecord,
  encodeRecord,
  MAX_OVERRIDE_BYTES,
  ttlMs,
} from "../../src/overrides/record.ts";

describe("override records", () => {
  it("reads a well-formed record", () => {
    const json = JSON.stringify({ id: "api:acme", patch: { rate: "5/s" }, at: 1, expiresAt: 2, by: "a" });
    expect(decodeRecord("api:acme", json)).toEqual({
      id: "api:acme",
      patch: { rate: "5/s" },
      at: 1,
      expiresAt: 2,
      by: "a",
    });
  });

  it("says what is wrong with a malformed one", () => {
    expect(decodeRecord("x", "{nope")).toBe("not valid JSON");
    expect(decodeRecord("x", JSON.stringify({ id: "y", patch: { rate: "1/s" }, at: 1 }))).toMatch(
      /not the one it is stored under/,
    );
    expect(decodeRecord("x", JSON.stringify({ id: "x", patch: { evil: 1 }, at: 1 }))).toMatch(
      /unknown key "evil"/,
    );
    expect(decodeRecord("x", JSON.stringify({ id: "x", patch: { rate: "1/s" } }))).toMatch(/`at`/);
    expect(decodeRecord("x", JSON.stringify({ id: "x", patch: {}, at: 1 }))).toMatch(/changes nothing/);
    expect(decodeRecord("x", "x".repeat(MAX_OVERRIDE_BYTES + 1))).toMatch(/larger than/);
    expect(
      decodeRecord("x", JSON.stringify({ id: "x", patch: JSON.parse('{"__proto__": 1}'), at: 1 })),
    ).toMatch(/unknown key "__proto__"/);
  });

  it("bounds what is written", () => {
    expect(() => encodeRecord({ id: "x", patch: { store: "s".repeat(MAX_OVERRIDE_BYTES) }, at: 1 })).toThrow(
      /larger than/,
    );
    expect(() => checkPatch("x", [])).toThrow(/table of limiter keys/);
    expect(() => ttlMs("x", "forever")).toThrow(/ttl "forever" is not a duration/);
    expect(() => ttlMs("x", "400d")).toThrow(/at most 366 days/);
    expect(ttlMs("x", "2h")).toBe(7_200_000);
  });
});
