/**
 * @module
 * The fields of a `[limiters.<id>]` table checked without zod's object machinery: each present key is run
 * through the very check its zod field runs (`fieldCheckOf`), and the table comes out as zod's
 * `limiterSchema` would give it. Only a table whose every key is known and every value passes takes this
 * path; any other one goes to zod, which finds and words its issues exactly as before. A file of 100k
 * limiters spent most of its validation inside zod's object parse (payloads, issue lists, results).
 */

import type { z } from "zod";
import { type Check, fieldCheckOf, limiterSchema, type ParsedLimiter } from "./schema.ts";

type FieldCheck = readonly [key: string, check: Check<unknown>];

let fields: readonly FieldCheck[] | undefined;

/** The limiter keys in the schema's order (zod's output order), each with its field's check. */
function limiterFields(): readonly FieldCheck[] {
  if (fields !== undefined) return fields;
  const shape: Record<string, z.ZodType> = limiterSchema.shape;
  fields = Object.keys(shape).map((key): FieldCheck => {
    const check = fieldCheckOf(shape[key]!);
    if (check === undefined) throw new Error(`the limiter field ${key} has no check`);
    return [key, check];
  });
  return fields;
}

/**
 * `limiterSchema.safeParse(raw)` for a table without issues, or `undefined` when the table has an unknown key,
 * a key set to `undefined` or a value its field refuses (zod must then say what is wrong).
 */
export function parseLimiterFields(
  raw: Record<string, unknown>,
): { success: true; data: ParsedLimiter } | undefined {
  const data: Record<string, unknown> = {};
  let found = 0;
  for (const [key, check] of limiterFields()) {
    if (!Object.hasOwn(raw, key)) continue;
    const value = raw[key];
    if (value === undefined) return undefined;
    const result = check(value);
    if (!result.ok) return undefined;
    data[key] = result.value;
    found++;
  }
  // Every enumerable key, as zod's strict check sees them: more than were found means one is unknown.
  let keys = 0;
  for (const _ in raw) keys++;
  if (keys !== found) return undefined;
  // The checks above are the fields' own: `data` holds exactly what zod's parse would.
  return { success: true, data: data as ParsedLimiter };
}
