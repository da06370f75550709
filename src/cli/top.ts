/**
 * @module
 * `rate-sync top <snapshot> [limiter]`: the keys denied most, as a running process saw them. The CLI is a
 * process of its own and cannot read another one's memory, and the sketches are per process by design (no
 * store round trip on a denial), so the app writes `rs.topKeysSnapshot()` where the CLI can read it — a file,
 * or the body of an admin endpoint piped in (`curl -s localhost:9000/top-keys | rate-sync top -`).
 */

import { readFile } from "node:fs/promises";
import { InvalidArgumentError } from "../errors.ts";
import type { TopKey, TopKeysSnapshot } from "../top-keys/top-keys.ts";

type Input = AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>;

async function readAll(input: Input): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input)
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks).toString("utf8");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isTopKey(value: unknown): value is TopKey {
  return (
    isRecord(value) &&
    typeof value.key === "string" &&
    typeof value.count === "number" &&
    typeof value.error === "number"
  );
}

/**
 * Reads and checks a snapshot written by `rs.topKeysSnapshot()`; with `limiter`, only that limiter's keys.
 * @param source - A file path, or `-` for `stdin`.
 * @throws InvalidArgumentError naming the file and what is wrong with it.
 */
export async function readTopKeys(
  source: string,
  limiter: string | undefined,
  stdin: Input = process.stdin,
): Promise<TopKeysSnapshot> {
  const name = source === "-" ? "standard input" : source;
  let text: string;
  try {
    text = source === "-" ? await readAll(stdin) : await readFile(source, "utf8");
  } catch (error) {
    throw new InvalidArgumentError(`cannot read ${name}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(
      `${name} is not JSON (${(error as Error).message}); write it with rs.topKeysSnapshot()`,
    );
  }
  if (!isRecord(parsed) || parsed.version !== 1 || !isRecord(parsed.limiters)) {
    throw new InvalidArgumentError(
      `${name} is not a top-keys snapshot of version 1 (write it with JSON.stringify(rs.topKeysSnapshot()))`,
    );
  }
  const limiters: Record<string, { hashed: boolean; keys: TopKey[] }> = Object.create(null);
  for (const [id, value] of Object.entries(parsed.limiters)) {
    if (!isRecord(value) || !Array.isArray(value.keys) || !value.keys.every(isTopKey)) {
      throw new InvalidArgumentError(`${name}: limiter ${JSON.stringify(id)} has no valid list of keys`);
    }
    if (limiter === undefined || limiter === id)
      limiters[id] = { hashed: value.hashed === true, keys: value.keys };
  }
  if (limiter !== undefined && !(limiter in limiters)) {
    const known = Object.keys(parsed.limiters);
    throw new InvalidArgumentError(
      `${name} has no denials of limiter ${JSON.stringify(limiter)} (limiters with denials: ${known.length > 0 ? known.join(", ") : "none"})`,
    );
  }
  return {
    version: 1,
    at: typeof parsed.at === "string" ? parsed.at : "",
    minutes: typeof parsed.minutes === "number" ? parsed.minutes : 0,
    counters: typeof parsed.counters === "number" ? parsed.counters : 0,
    limiters,
  };
}

/** The human listing: per limiter, its keys with counts and error bounds, aligned. */
export function formatTopKeys(snapshot: TopKeysSnapshot): string {
  const ids = Object.keys(snapshot.limiters);
  const lines = [
    `Keys denied most in the last ${snapshot.minutes} minutes (each denial weighs exp(-age / ${snapshot.minutes} min)), as of ${snapshot.at || "(unknown time)"}:`,
  ];
  if (ids.length === 0) lines.push("  (no denials)");
  for (const id of ids) {
    const { hashed, keys } = snapshot.limiters[id]!;
    lines.push(`${JSON.stringify(id)}${hashed ? " (hash_keys: SHA-256 of each key)" : ""}`);
    const width = Math.max(5, ...keys.map((k) => String(k.count).length));
    lines.push(`  ${"count".padStart(width)}  ${"±".padStart(6)}  key`);
    for (const { key, count, error } of keys) {
      lines.push(
        `  ${String(count).padStart(width)}  ${(error === 0 ? "exact" : `-${error}`).padStart(6)}  ${key}`,
      );
    }
  }
  return lines.join("\n");
}
