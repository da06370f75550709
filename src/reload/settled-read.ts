/**
 * @module
 * Reads a config file for a reload once it has stopped changing. An in-place save truncates the file and then
 * writes it, so a read at the wrong moment sees nothing or only the start of it (which may even parse: a file
 * cut between two tables is valid TOML with fewer limiters). Before reading, the file's identity (inode, size,
 * modification and change times) must stay the same over a short quiet period, and the bytes read must match
 * it afterwards; a file that keeps changing past a bound is reported as such, never read half way.
 *
 * This lowers the odds of a torn read a lot but cannot rule it out (file times have a coarse clock tick, and
 * a writer may pause mid-write): the reload pipeline still decides on the text it read (empty text, or a file
 * that removes every limiter, is refused; see `refusals.ts`).
 */

import { type BigIntStats, stat } from "node:fs";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";

const statBig = promisify(stat) as (path: string, options: { bigint: true }) => Promise<BigIntStats>;

/**
 * How long the file must stay unchanged before it is read.
 * @default 20
 */
export const SETTLE_MS = 20;

/**
 * How long a reload waits for a file that keeps changing before giving up on it (the running config stays).
 * @default 1000
 */
export const MAX_SETTLE_WAIT_MS = 1_000;

/** What a settled read found. */
export type SettledRead =
  /** The file's whole text, read once while it did not change. */
  | { readonly kind: "text"; readonly text: string; readonly bytes: number }
  /** No file (or a dangling link): a delete-and-recreate or a ConfigMap swap may be in progress. */
  | { readonly kind: "missing" }
  /** The file changed during every attempt until the bound. */
  | { readonly kind: "unsettled"; readonly waitedMs: number }
  /** The file is larger than `maxBytes`: not read. */
  | { readonly kind: "too-large"; readonly bytes: number };

/** Options of {@link readSettled}. */
export interface SettledReadOptions {
  /** @default SETTLE_MS */
  readonly settleMs?: number;
  /** @default MAX_SETTLE_WAIT_MS */
  readonly maxWaitMs?: number;
  /** Refuse to read a file larger than this (checked on the settled size, before reading). */
  readonly maxBytes: number;
}

async function identity(file: string): Promise<string | undefined> {
  try {
    const s = await statBig(file, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return undefined;
  }
}

function sizeOf(id: string): number {
  return Number(id.split(":")[1]);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until `file` has not changed for `settleMs`, then reads it once; retries (up to `maxWaitMs`) when it
 * changed meanwhile or the bytes read do not match its size.
 */
export async function readSettled(file: string, options: SettledReadOptions): Promise<SettledRead> {
  const settleMs = options.settleMs ?? SETTLE_MS;
  const maxWaitMs = options.maxWaitMs ?? MAX_SETTLE_WAIT_MS;
  const started = performance.now();
  let before = await identity(file);
  for (;;) {
    await sleep(settleMs);
    const settled = await identity(file);
    if (settled === before) {
      if (settled === undefined) return { kind: "missing" };
      const bytes = sizeOf(settled);
      if (bytes > options.maxBytes) return { kind: "too-large", bytes };
      let buffer: Buffer | undefined;
      try {
        buffer = await readFile(file);
      } catch {
        buffer = undefined; // removed between the stat and the read: look again
      }
      const after = await identity(file);
      if (buffer !== undefined && after === settled && buffer.length === bytes) {
        return { kind: "text", text: buffer.toString("utf8"), bytes };
      }
      before = after;
    } else {
      before = settled;
    }
    const waitedMs = performance.now() - started;
    if (waitedMs >= maxWaitMs) return { kind: "unsettled", waitedMs: Math.round(waitedMs) };
  }
}
