/**
 * @module
 * Validation and hashing of the keys callers pass to `acquire`. Keys are data: any characters, at most 1 KiB
 * of UTF-8, and never part of a Redis key's shape or a SQL statement (stores take them as parameters).
 */

import { createHash } from "node:crypto";
import { InvalidKeyError } from "../errors.ts";

/** Longest key accepted, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

/** A UTF-16 code unit takes at most 3 UTF-8 bytes: keys this short need no byte count. */
const ALWAYS_SHORT_ENOUGH = Math.floor(MAX_KEY_BYTES / 3);

/** Throws `InvalidKeyError` unless `key` is a non-empty string of at most 1 KiB (UTF-8). */
export function assertValidKey(key: unknown): asserts key is string {
  if (typeof key !== "string") {
    throw new InvalidKeyError(`A key must be a string, got ${key === null ? "null" : typeof key}`);
  }
  if (key.length === 0) throw new InvalidKeyError("A key must not be empty");
  if (key.length > ALWAYS_SHORT_ENOUGH && Buffer.byteLength(key, "utf8") > MAX_KEY_BYTES) {
    throw new InvalidKeyError(
      `A key must be at most ${MAX_KEY_BYTES} bytes of UTF-8, got ${Buffer.byteLength(key, "utf8")} bytes (key starts with ${JSON.stringify(key.slice(0, 32))})`,
    );
  }
}

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * The name a key's state is stored under when its limiter says `hash_keys = true`: hex SHA-256 of the key's
 * UTF-8 bytes.
 *
 * A key holding a lone surrogate has no UTF-8 form: encoding it would turn the surrogate into U+FFFD, so
 * `"\uD800"` and `"\uFFFD"` would hash alike and share state. Such keys hash a byte 0xFF (which never occurs in
 * UTF-8, so no well-formed key's input can match) followed by their UTF-16 code units, which keep every
 * surrogate as it is. Well-formed keys hash exactly as before.
 *
 * @example hashKey("user:42") // sha256 of the 7 bytes "user:42", in hex
 */
export function hashKey(key: string): string {
  const hash = createHash("sha256");
  if (!LONE_SURROGATE.test(key)) return hash.update(key, "utf8").digest("hex");
  return hash
    .update(Buffer.from([0xff]))
    .update(key, "utf16le")
    .digest("hex");
}
