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

interface Field {
  /** Place in the schema's order: zod's output order. */
  readonly index: number;
  /** The field's check; undefined for a field only zod parses (`limits`, a list of tables). */
  readonly check: Check<unknown> | undefined;
}

let fields: ReadonlyMap<string, Field> | undefined;

/** Each limiter key with its field's check and its place in the schema. */
function limiterFields(): ReadonlyMap<string, Field> {
  if (fields !== undefined) return fields;
  const shape: Record<string, z.ZodType> = limiterSchema.shape;
  fields = new Map(
    Object.keys(shape).map((key, index): [string, Field] => [
      key,
      { index, check: fieldCheckOf(shape[key]!) },
    ]),
  );
  return fields;
}

/**
 * `limiterSchema.safeParse(raw)` for a table without issues, or `undefined` when the table has an unknown key,
 * a key set to `undefined`, a value its field refuses (zod must then say what is wrong) or a field only zod
 * parses.
 */
export function parseLimiterFields(
  raw: Record<string, unknown>,
): { success: true; data: ParsedLimiter } | undefined {
  const known = limiterFields();
  // The table's keys, each looked up once (asking the table for each of the schema's keys cost 16 lookups
  // per table). Every enumerable key, as zod's strict check sees them: one outside the schema is zod's to name.
  const found: [index: number, key: string, value: unknown][] = [];
  let ordered = true;
  for (const key in raw) {
    const field = known.get(key);
    if (field?.check === undefined || !Object.hasOwn(raw, key)) return undefined;
    const value = raw[key];
    if (value === undefined) return undefined;
    const result = field.check(value);
    if (!result.ok) return undefined;
    if (found.length > 0 && found[found.length - 1]![0] > field.index) ordered = false;
    found.push([field.index, key, result.value]);
  }
  if (!ordered) found.sort((a, b) => a[0] - b[0]);
  const data: Record<string, unknown> = {};
  for (const [, key, value] of found) data[key] = value;
  // The checks above are the fields' own: `data` holds exactly what zod's parse would.
  return { success: true, data: data as ParsedLimiter };
}
