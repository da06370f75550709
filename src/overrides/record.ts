/**
 * @module
 * The stored form of an override: bounds on its size, the JSON it is written as, and the defensive reading of
 * whatever a store hands back (a store is writable by others: a record is checked before anything uses it).
 */

import { LIMITER_KEYS } from "../config/schema.ts";
import { parseDuration } from "../config/units.ts";
import type { DurationInput } from "../core/types.ts";
import { InvalidArgumentError } from "../errors.ts";
import type { OverrideChange, OverridePatch, OverrideRecord } from "./types.ts";

/** Bound of one stored override (its JSON, in bytes): a patch of every limiter key fits many times over. */
export const MAX_OVERRIDE_BYTES = 4096;
/** Bound of `reason` and `by`, in characters. */
export const MAX_NOTE_CHARS = 500;
/** Bound of an override id (a limiter id or a key), in bytes, as for keys. */
export const MAX_OVERRIDE_ID_BYTES = 1024;
/** Longest `ttl`: a year. An override meant for longer belongs in the file. */
export const MAX_OVERRIDE_TTL_MS = 366 * 24 * 3600 * 1000;

/** Checks an override id. @throws InvalidArgumentError */
export function checkOverrideId(id: unknown): asserts id is string {
  if (typeof id !== "string" || id === "") {
    throw new InvalidArgumentError(`an override id must be a non-empty string, got ${JSON.stringify(id)}`);
  }
  if (Buffer.byteLength(id) > MAX_OVERRIDE_ID_BYTES) {
    throw new InvalidArgumentError(`override id is longer than ${MAX_OVERRIDE_ID_BYTES} bytes`);
  }
}

/** A `ttl` in ms. @throws InvalidArgumentError */
export function ttlMs(id: string, ttl: DurationInput): number {
  let ms: number;
  try {
    ms = parseDuration(ttl);
  } catch (error) {
    const why = error instanceof Error ? `: ${error.message}` : "";
    throw new InvalidArgumentError(
      `override "${id}": ttl ${JSON.stringify(ttl)} is not a duration ("2h", "30m", or seconds)${why}`,
    );
  }
  if (!(ms > 0) || ms > MAX_OVERRIDE_TTL_MS) {
    throw new InvalidArgumentError(`override "${id}": ttl must be more than 0 and at most 366 days`);
  }
  return ms;
}

/** Checks a note (`reason`, `by`). @throws InvalidArgumentError */
export function checkNote(id: string, name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new InvalidArgumentError(`override "${id}": ${name} must be a string`);
  if (value.length > MAX_NOTE_CHARS) {
    throw new InvalidArgumentError(`override "${id}": ${name} is longer than ${MAX_NOTE_CHARS} characters`);
  }
  return value;
}

/**
 * Checks the shape of a patch (a table of limiter keys; what the values mean is checked by validating the
 * merged definition). @throws InvalidArgumentError naming the override and the key
 */
export function checkPatch(id: string, patch: unknown): asserts patch is OverridePatch {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) {
    throw new InvalidArgumentError(`override "${id}": the patch must be a table of limiter keys`);
  }
  const keys = Object.keys(patch);
  if (keys.length === 0) throw new InvalidArgumentError(`override "${id}": the patch changes nothing`);
  for (const key of keys) {
    if (!LIMITER_KEYS.includes(key)) {
      throw new InvalidArgumentError(
        `override "${id}": unknown key ${JSON.stringify(key)} (limiter keys: ${LIMITER_KEYS.join(", ")})`,
      );
    }
  }
}

/** The JSON a record is stored as. @throws InvalidArgumentError when it is over {@link MAX_OVERRIDE_BYTES} */
export function encodeRecord(record: OverrideRecord): string {
  const json = JSON.stringify(record);
  if (Buffer.byteLength(json) > MAX_OVERRIDE_BYTES) {
    throw new InvalidArgumentError(`override "${record.id}" is larger than ${MAX_OVERRIDE_BYTES} bytes`);
  }
  return json;
}

/**
 * Reads a stored record, or returns the reason it cannot be used. Nothing of a malformed record is applied.
 */
export function decodeRecord(id: string, json: unknown): OverrideRecord | string {
  if (typeof json !== "string") return "not a string";
  if (Buffer.byteLength(json) > MAX_OVERRIDE_BYTES) return `larger than ${MAX_OVERRIDE_BYTES} bytes`;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return "not valid JSON";
  }
  return checkRecord(id, value);
}

/** Checks a parsed record; returns it, or what is wrong with it. */
export function checkRecord(id: string, value: unknown): OverrideRecord | string {
  if (value === null || typeof value !== "object") return "not an object";
  const record = value as Record<string, unknown>;
  if (record.id !== id) return `its id ${JSON.stringify(record.id)} is not the one it is stored under`;
  try {
    checkPatch(id, record.patch);
  } catch (error) {
    return (error as Error).message;
  }
  if (typeof record.at !== "number" || !Number.isFinite(record.at)) return "no valid `at`";
  if (
    record.expiresAt !== undefined &&
    (typeof record.expiresAt !== "number" || !Number.isFinite(record.expiresAt))
  )
    return "an invalid `expiresAt`";
  for (const note of ["reason", "by"] as const) {
    const text = record[note];
    if (text !== undefined && (typeof text !== "string" || text.length > MAX_NOTE_CHARS))
      return `an invalid \`${note}\``;
  }
  return Object.freeze({
    id,
    patch: Object.freeze({ ...(record.patch as OverridePatch) }),
    at: record.at,
    ...(record.expiresAt === undefined ? {} : { expiresAt: record.expiresAt as number }),
    ...(record.reason === undefined ? {} : { reason: record.reason as string }),
    ...(record.by === undefined ? {} : { by: record.by as string }),
  });
}

/** Reads a history entry; undefined when it is malformed (a history line is only shown, never applied). */
export function decodeChange(json: unknown): OverrideChange | undefined {
  if (typeof json !== "string") return undefined;
  try {
    const value = JSON.parse(json) as OverrideChange;
    if (value === null || typeof value !== "object" || typeof value.id !== "string") return undefined;
    return value;
  } catch {
    return undefined;
  }
}
