/**
 * @module
 * Durations and rates as users write them (SPEC §2.1): `"250ms"`, `"30s"`, `"5m"`, `"1h"`, `"1d"` or a number
 * of seconds; rates such as `"100/s"`, `"10/min"`, `"3/5min"`, `"1000/day"`. Shared by the config loader and
 * by call options such as `acquire(key, { timeout: "2s" })`.
 */

import { InvalidArgumentError } from "../errors.ts";

const MS_PER_UNIT: ReadonlyMap<string, number> = new Map([
  ["ms", 1],
  ["millisecond", 1],
  ["milliseconds", 1],
  ["s", 1000],
  ["sec", 1000],
  ["second", 1000],
  ["seconds", 1000],
  ["m", 60_000],
  ["min", 60_000],
  ["minute", 60_000],
  ["minutes", 60_000],
  ["h", 3_600_000],
  ["hour", 3_600_000],
  ["hours", 3_600_000],
  ["d", 86_400_000],
  ["day", 86_400_000],
  ["days", 86_400_000],
]);

/** The unit words accepted in durations and rates, for error messages and the JSON Schema. */
export const DURATION_UNITS: readonly string[] = [...MS_PER_UNIT.keys()];

const DECIMAL = String.raw`(?:\d+(?:\.\d*)?|\.\d+)`;
/** A plain decimal number such as `42`, `0.5` or `1e3` (what interpolated numbers look like). */
const NUMBER_TEXT = new RegExp(String.raw`^[+-]?${DECIMAL}(?:[eE][+-]?\d+)?$`);
// Units are lower case only: `"1M"` would read as "one month" to some people, so it is refused, not guessed.
const DURATION_TEXT = new RegExp(String.raw`^(${DECIMAL})\s*([a-z]+)$`);
const RATE_TEXT = new RegExp(String.raw`^(${DECIMAL})\s*/\s*(${DECIMAL})?\s*([a-z]+)$`);

/** Regular expression (source) of a duration string, for the JSON Schema. */
export const DURATION_PATTERN = String.raw`^\s*(?:(?:\d+(?:\.\d*)?|\.\d+)\s*(?:${DURATION_UNITS.join("|")})|(?:\d+(?:\.\d*)?|\.\d+))\s*$`;
/** Regular expression (source) of a rate string, for the JSON Schema. */
export const RATE_PATTERN = String.raw`^\s*(?:\d+(?:\.\d*)?|\.\d+)\s*/\s*(?:(?:\d+(?:\.\d*)?|\.\d+))?\s*(?:${DURATION_UNITS.join("|")})\s*$`;

const DURATION_HINT = `expected a number of seconds or a string such as "250ms", "30s", "5m", "1h", "1d"`;
const RATE_HINT = `expected a string such as "100/s", "10/min", "3/5min", "1000/day" (units: ${DURATION_UNITS.join(", ")})`;

/** Parses text that is exactly a decimal number (`"42"`, `"-1.5"`, `"1e3"`); `undefined` for anything else. */
export function parseNumberText(text: string): number | undefined {
  const trimmed = text.trim();
  return NUMBER_TEXT.test(trimmed) ? Number(trimmed) : undefined;
}

/**
 * How an argument is shown in an error message: strings quoted (so `"1"` is not mistaken for the number 1),
 * numbers and booleans as written, bigints with their `n`, and anything else by its kind only. `String()` is
 * never called on an object: a hostile one (`Object.create(null)`, a throwing `toString`) would turn a clear
 * `InvalidArgumentError` into a `TypeError`, and a well-behaved one could print a secret.
 *
 * @example describeValue("1") // '"1"'; describeValue(2n) // "2n"; describeValue([5]) // "an array"
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
    case "boolean":
    case "undefined":
      return String(value);
    case "bigint":
      return `${value}n (a bigint)`;
    case "symbol":
      return "a symbol";
    case "function":
      return "a function";
    default:
      return value === null ? "null" : Array.isArray(value) ? "an array" : "an object";
  }
}

/**
 * Parses a duration into milliseconds. A number is a count of **seconds** (rate-sync's `timeout = 30.0`); a
 * string is a decimal and a unit (`"250ms"`, `"1.5s"`, `"5m"`, `"1h"`, `"1d"`, or the words `second(s)`,
 * `minute(s)`, …) or a bare decimal of seconds (`"30"`, as interpolation produces). Zero is allowed.
 *
 * @throws {InvalidArgumentError} for negative, NaN, infinite or unreadable values; the message names the value.
 * @example
 * parseDuration("250ms"); // 250
 * parseDuration(30);      // 30000
 * parseDuration("5m");    // 300000
 */
export function parseDuration(value: string | number): number {
  let ms: number | undefined;
  if (typeof value === "number") {
    ms = value * 1000;
  } else if (typeof value === "string") {
    ms = durationTextMs(value.trim());
  }
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) {
    const hint = typeof value === "string" ? lowerCaseHint(value, durationTextMs) : undefined;
    throw new InvalidArgumentError(`invalid duration ${describeValue(value)}: ${hint ?? DURATION_HINT}`);
  }
  return ms;
}

function durationTextMs(text: string): number | undefined {
  const seconds = parseNumberText(text);
  if (seconds !== undefined) return seconds * 1000;
  const match = DURATION_TEXT.exec(text);
  const unitMs = match ? MS_PER_UNIT.get(match[2] ?? "") : undefined;
  return match && unitMs !== undefined ? Number(match[1]) * unitMs : undefined;
}

/**
 * `units are lower case; did you mean "1m"?` when the text is refused only for the case of its unit
 * (`"1M"`, `"10/Min"`); undefined otherwise. Units are never lower-cased silently (`"1M"` may mean a month to
 * whoever wrote it), so the message says what would be accepted and what it means.
 */
function lowerCaseHint(value: string, parse: (text: string) => unknown): string | undefined {
  const text = value.trim();
  const lower = text.toLowerCase();
  if (lower === text || parse(lower) === undefined) return undefined;
  const minutes = /M$/.test(text) ? ` ("m" is minutes; there is no month unit)` : "";
  return `units are lower case; did you mean ${JSON.stringify(lower)}?${minutes}`;
}

/** The unit length of a rate text whose shape and unit are valid; undefined otherwise. */
function rateUnitMs(text: string): number | undefined {
  const match = RATE_TEXT.exec(text);
  return match ? MS_PER_UNIT.get(match[3] ?? "") : undefined;
}

/** A parsed rate: `count` units per `periodMs` milliseconds. */
export interface ParsedRate {
  /** Units allowed per period (positive). */
  readonly count: number;
  /** Length of the period in milliseconds (positive). */
  readonly periodMs: number;
}

/**
 * Parses a rate string: a positive count, a slash, an optional multiplier and a unit.
 *
 * @throws {InvalidArgumentError} for anything else, zero counts and zero periods; the message names the value.
 * @example
 * parseRate("100/s");   // { count: 100, periodMs: 1000 }
 * parseRate("3/5min");  // { count: 3, periodMs: 300000 }
 */
export function parseRate(value: string): ParsedRate {
  const match = typeof value === "string" ? RATE_TEXT.exec(value.trim()) : null;
  const unitMs = match ? MS_PER_UNIT.get(match[3] ?? "") : undefined;
  if (!match || unitMs === undefined) {
    const hint = typeof value === "string" ? lowerCaseHint(value, rateUnitMs) : undefined;
    throw new InvalidArgumentError(`invalid rate ${describeValue(value)}: ${hint ?? RATE_HINT}`);
  }
  const count = Number(match[1]);
  const periodMs = (match[2] === undefined ? 1 : Number(match[2])) * unitMs;
  if (!(count > 0) || !Number.isFinite(count)) {
    throw new InvalidArgumentError(`invalid rate ${describeValue(value)}: the count must be positive`);
  }
  if (!(periodMs > 0) || !Number.isFinite(periodMs)) {
    throw new InvalidArgumentError(`invalid rate ${describeValue(value)}: the period must be positive`);
  }
  return { count, periodMs };
}

/**
 * Milliseconds between two units of a rate (`periodMs / count`): the `intervalMs` of a bucket. The range check
 * of `rate` and the normalized limiter both use this one expression, so a rate accepted at its bound is the
 * rate the stores get.
 *
 * @example rateIntervalMs(parseRate("100/min")) // 600
 */
export function rateIntervalMs(rate: ParsedRate): number {
  return rate.periodMs / rate.count;
}
