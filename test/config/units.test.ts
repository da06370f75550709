import { describe, expect, it } from "vitest";
import { parseDuration, parseRate } from "../../src/config/units.ts";
import { InvalidArgumentError } from "../../src/errors.ts";

describe("parseDuration", () => {
  it.each([
    ["250ms", 250],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["1d", 86_400_000],
    ["1.5s", 1500],
    [".5s", 500],
    ["2 minutes", 120_000],
    ["1 second", 1000],
    ["3sec", 3000],
    ["2hours", 7_200_000],
    ["1 day", 86_400_000],
    ["0", 0],
    ["30", 30_000],
    [" 10s ", 10_000],
    [0, 0],
    [30, 30_000],
    [0.25, 250],
  ] as const)("%j → %d ms", (input, expected) => {
    expect(parseDuration(input)).toBe(expected);
  });

  it.each([
    ["-1s", '"-1s"'],
    [-1, "-1"],
    [Number.NaN, "NaN"],
    [Number.POSITIVE_INFINITY, "Infinity"],
    ["", '""'],
    ["soon", '"soon"'],
    ["5 fortnights", '"5 fortnights"'],
    ["5M", '"5M"'],
    ["1e999", '"1e999"'],
  ] as const)("rejects %j and names it", (input, shown) => {
    expect(() => parseDuration(input)).toThrow(InvalidArgumentError);
    expect(() => parseDuration(input)).toThrow(`invalid duration ${shown}`);
  });
});

describe("parseRate", () => {
  it.each([
    ["100/s", 100, 1000],
    ["10/min", 10, 60_000],
    ["3/5min", 3, 300_000],
    ["1000/day", 1000, 86_400_000],
    ["5/ms", 5, 1],
    ["1/sec", 1, 1000],
    ["7/second", 7, 1000],
    ["7/seconds", 7, 1000],
    ["2/m", 2, 60_000],
    ["2/minute", 2, 60_000],
    ["2/minutes", 2, 60_000],
    ["50/h", 50, 3_600_000],
    ["50/hour", 50, 3_600_000],
    ["50/hours", 50, 3_600_000],
    ["9/d", 9, 86_400_000],
    ["9/days", 9, 86_400_000],
    ["0.5/s", 0.5, 1000],
    ["10 / 30s", 10, 30_000],
  ] as const)("%s → %d per %d ms", (input, count, periodMs) => {
    expect(parseRate(input)).toEqual({ count, periodMs });
  });

  it.each(["100", "100/", "/s", "0/s", "10/0s", "-1/s", "10/fortnight", "ten/s", "100 per second", ""])(
    "rejects %j and names it",
    (input) => {
      expect(() => parseRate(input)).toThrow(InvalidArgumentError);
      expect(() => parseRate(input)).toThrow(JSON.stringify(input));
    },
  );
});

describe("upper-case units (#14.7)", () => {
  it.each([
    [
      "1M",
      'invalid duration "1M": units are lower case; did you mean "1m"? ("m" is minutes; there is no month unit)',
    ],
    ["250MS", 'invalid duration "250MS": units are lower case; did you mean "250ms"?'],
    [" 1 Hour ", 'invalid duration " 1 Hour ": units are lower case; did you mean "1 hour"?'],
  ])("duration %j says units are lower case", (input, message) => {
    expect(() => parseDuration(input)).toThrow(message);
  });

  it.each([
    ["10/Min", 'invalid rate "10/Min": units are lower case; did you mean "10/min"?'],
    [
      "3/5M",
      'invalid rate "3/5M": units are lower case; did you mean "3/5m"? ("m" is minutes; there is no month unit)',
    ],
    ["100/S", 'invalid rate "100/S": units are lower case; did you mean "100/s"?'],
  ])("rate %j says units are lower case", (input, message) => {
    expect(() => parseRate(input)).toThrow(message);
  });

  it("gives no case hint when lower case would not help", () => {
    expect(() => parseDuration("5 Fortnights")).toThrow(/expected a number of seconds/);
    expect(() => parseRate("10/Fortnight")).toThrow(/expected a string such as/);
  });
});
