/**
 * @module
 * Moves decisions between TypeScript and SQL: store ops become the parallel arrays the decide function takes,
 * result rows become `OpResult`s. Keys and limiter ids only ever travel as bound parameters.
 */

import { BLOCK_TAG } from "../../algorithms/block/decide.ts";
import { BLOCK_KIND } from "../../algorithms/block/sql.ts";
import { paramPair, stateTag } from "../../algorithms/registry.ts";
import type { LimitParams } from "../../algorithms/types.ts";
import type { OpResult, StoreOp } from "../store.ts";

/** The escape character of {@link encodeText}; it never appears unescaped in an encoded string. */
const ESCAPE = "\u0001";

/**
 * Makes any JavaScript string storable in a PostgreSQL `text` column without two strings ever sharing a value.
 *
 * PostgreSQL text cannot hold NUL, and a lone UTF-16 surrogate has no UTF-8 form (the driver would turn it into
 * U+FFFD, so two different keys would share state). Ordinary strings (the overwhelming majority) are returned
 * unchanged; only strings holding NUL, U+0001 or a lone surrogate are escaped, with U+0001 as the escape
 * character, which keeps the mapping injective.
 */
export function encodeText(value: string): string {
  if (!needsEscape(value)) return value;
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code === 0) out += `${ESCAPE}0`;
    else if (code === 1) out += `${ESCAPE}${ESCAPE}`;
    else if (code >= 0xd800 && code <= 0xdbff && isLowSurrogate(value.charCodeAt(i + 1))) {
      out += value.slice(i, i + 2);
      i += 1;
    } else if (code >= 0xd800 && code <= 0xdfff) out += `${ESCAPE}u${code.toString(16)}`;
    else out += value[i];
  }
  return out;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

function needsEscape(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code <= 1) return true;
    if (code >= 0xd800 && code <= 0xdbff) {
      if (!isLowSurrogate(value.charCodeAt(i + 1))) return true;
      i += 1;
    } else if (code >= 0xdc00 && code <= 0xdfff) return true;
  }
  return false;
}

/**
 * The statement parameters as they go on the wire: each array as its PostgreSQL array literal text
 * (`{"a","b"}`), the rest as they are. The store's pools run with postgres.js's `fetch_types` off (see
 * `pool.ts`), so the driver has no serializer for array types and would send an array as `String(array)`; the
 * server parses the literal into the parameter's declared type (`$1::text[]`, `$5::float8[]`). Numbers keep their
 * exact `String(n)` text (`Infinity` included), strings are quoted with `"` and `\` escaped, and `null` is `NULL`.
 * On an application's own `sql` (which may fetch types), a string is passed through untouched as well.
 */
export function wireParams(params: readonly unknown[]): unknown[] {
  const out = new Array<unknown>(params.length);
  for (let i = 0; i < params.length; i++) {
    const value = params[i];
    out[i] = Array.isArray(value) ? arrayLiteral(value) : value;
  }
  return out;
}

/** Quotes and backslashes in an array element: escaped with a backslash. */
const ARRAY_SPECIAL = /["\\]/g;

/** The PostgreSQL array literal of a flat array of strings, numbers, booleans and nulls. */
export function arrayLiteral(values: readonly unknown[]): string {
  let out = "{";
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ",";
    const value = values[i];
    if (value === null || value === undefined) {
      out += "NULL";
    } else if (typeof value === "string") {
      out += `"${value.includes('"') || value.includes("\\") ? value.replace(ARRAY_SPECIAL, "\\$&") : value}"`;
    } else {
      // Numbers and booleans: their text never holds a quote or a backslash.
      out += `"${String(value)}"`;
    }
  }
  return `${out}}`;
}

/** The algorithm name the SQL switches on, and its two numeric parameters (see `paramPair`). */
export function paramsColumns(params: LimitParams): { kind: string; a: number; b: number } {
  const [a, b] = paramPair(params);
  return { kind: params.kind, a, b };
}

/** The parallel arrays of a batch, in the order of the decide/refund functions' parameters. */
export type BatchArrays = [
  limiters: string[],
  keys: string[],
  tags: string[],
  kinds: string[],
  a: number[],
  b: number[],
  costs: number[],
  leases: string[],
];

/** Splits ops into the parallel arrays the SQL functions take. */
export function toBatchArrays(ops: readonly StoreOp[]): BatchArrays {
  const arrays: BatchArrays = [[], [], [], [], [], [], [], []];
  const [limiters, keys, tags, kinds, a, b, costs, leases] = arrays;
  for (const op of ops) {
    const columns = paramsColumns(op.params);
    limiters.push(encodeText(op.limiterId));
    keys.push(encodeText(op.key));
    tags.push(stateTag(op.params));
    kinds.push(columns.kind);
    a.push(columns.a);
    b.push(columns.b);
    costs.push(op.cost);
    leases.push(op.leaseId === undefined ? "" : encodeText(op.leaseId));
  }
  return arrays;
}

/**
 * The parameters of `<table>_decide_batch`: per op its call number and its row (an index into the distinct rows),
 * the distinct rows, the ops' other columns, and each call's max wait.
 */
export type CallArrays = [
  calls: number[],
  rows: number[],
  limiters: string[],
  keys: string[],
  tags: string[],
  kinds: string[],
  a: number[],
  b: number[],
  costs: number[],
  leases: string[],
  maxWaits: number[],
];

/**
 * Encodes several calls (each the ops of one decision, with its max wait) for `<table>_decide_batch`. Each state
 * row is sent once however many ops hit it; the function sorts the rows into the lock order itself.
 */
export function toCallArrays(
  calls: readonly { readonly ops: readonly StoreOp[]; readonly maxWaitMs: number }[],
): CallArrays {
  const arrays: CallArrays = [[], [], [], [], [], [], [], [], [], [], []];
  const [numbers, rows, limiters, keys, tags, kinds, a, b, costs, leases, maxWaits] = arrays;
  const index = new Map<string, number>();
  /** The 1-based number of the state row of (limiter, key, tag), added on first sight: each row is sent once. */
  const rowOf = (limiter: string, key: string, tag: string): number => {
    // Encoded text holds no NUL, so NUL separates the parts unambiguously.
    const id = `${limiter}\u0000${key}\u0000${tag}`;
    let row = index.get(id);
    if (row === undefined) {
      row = limiters.length + 1;
      index.set(id, row);
      limiters.push(limiter);
      keys.push(key);
      tags.push(tag);
    }
    return row;
  };
  for (const [i, call] of calls.entries()) {
    for (const op of call.ops) {
      const limiter = encodeText(op.limiterId);
      const key = encodeText(op.key);
      if (op.block !== undefined) {
        // The block op, right before the op that carries the block (see `src/algorithms/block/sql.ts`).
        numbers.push(i + 1);
        rows.push(rowOf(limiter, key, BLOCK_TAG));
        kinds.push(BLOCK_KIND);
        a.push(op.block.memoryMs);
        b.push(op.block.span);
        costs.push(0);
        leases.push(op.block.durationsMs.join(","));
      }
      const columns = paramsColumns(op.params);
      numbers.push(i + 1);
      rows.push(rowOf(limiter, key, stateTag(op.params)));
      kinds.push(columns.kind);
      a.push(columns.a);
      b.push(columns.b);
      costs.push(op.cost);
      leases.push(op.leaseId === undefined ? "" : encodeText(op.leaseId));
    }
    maxWaits.push(call.maxWaitMs);
  }
  return arrays;
}

/** The leading parameters of `<table>_decide_one`, in order (a single rate op: no lease). */
export type OneOpParams = [
  limiter: string,
  key: string,
  tag: string,
  kind: string,
  a: number,
  b: number,
  cost: number,
];

/** The scalar parameters of the lean single-op function, encoded like {@link toBatchArrays} encodes each op. */
export function toOneOpParams(op: StoreOp): OneOpParams {
  const columns = paramsColumns(op.params);
  return [
    encodeText(op.limiterId),
    encodeText(op.key),
    stateTag(op.params),
    columns.kind,
    columns.a,
    columns.b,
    op.cost,
  ];
}

/** One row of `<table>_decide` or `<table>_decide_one`. */
export interface DecideRow {
  readonly allowed: boolean;
  readonly lim: number;
  readonly remaining: number;
  readonly reset_after_ms: number;
  readonly retry_after_ms: number;
  readonly wait_ms: number;
  readonly now_ms: number;
}

/** Reads one decide row into an `OpResult`, checking its shape (a driver or schema mismatch is an error). */
export function toOpResult(row: unknown): OpResult {
  const r = row as Partial<Record<keyof DecideRow, unknown>> | null;
  if (
    r === null ||
    typeof r !== "object" ||
    typeof r.allowed !== "boolean" ||
    typeof r.lim !== "number" ||
    typeof r.remaining !== "number" ||
    typeof r.reset_after_ms !== "number" ||
    typeof r.retry_after_ms !== "number" ||
    typeof r.wait_ms !== "number"
  ) {
    throw new TypeError("unexpected row shape from the decide function");
  }
  return {
    allowed: r.allowed,
    limit: r.lim,
    remaining: r.remaining,
    // Clamp the float dust of `x - now` so a result never says "-0.0001 ms".
    resetAfterMs: Math.max(0, r.reset_after_ms),
    retryAfterMs: Math.max(0, r.retry_after_ms),
    waitMs: Math.max(0, r.wait_ms),
  };
}

/** The store time of a decision, from its first row. */
export function rowNowMs(row: unknown): number {
  const now = (row as { now_ms?: unknown } | null)?.now_ms;
  if (typeof now !== "number") throw new TypeError("unexpected row shape from the decide function");
  return now;
}
