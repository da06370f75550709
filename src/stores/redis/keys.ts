/**
 * @module
 * Names of the Redis keys that hold a limiter key's state, and the Cluster hash slot of a name.
 *
 * Layout: `<prefix>:{<identity>}:s` is a hash of rate states (one field per state tag, see `stateTag`), and
 * `<prefix>:{<identity>}:l` is the sorted set of concurrency leases. `<identity>` is
 * `<length of limiterId>:<limiterId>:<key>` — the length prefix makes the pair `(limiterId, key)` recoverable
 * from the name, so two different pairs can never share state whatever characters they contain. Both names
 * put the whole identity inside one `{…}` hash tag, so a key's rate state and leases live in the same Cluster
 * slot, and `reset` can delete both in one command.
 *
 * Keys are only ever passed as KEYS/ARGV of commands and scripts, never spliced into code.
 */

/** Suffix of the hash of rate states. */
const STATE_SUFFIX = "s";
/** Suffix of the sorted set of leases. */
const LEASE_SUFFIX = "l";

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * The identity of `(limiterId, key)` inside the hash tag. Strings with lone surrogates would be turned into
 * U+FFFD when encoded to UTF-8 (so two of them could collide); those get an escaped form that starts with a
 * letter, where the normal form starts with a digit, which keeps the naming injective.
 */
function identity(limiterId: string, key: string): string {
  if (!LONE_SURROGATE.test(limiterId) && !LONE_SURROGATE.test(key))
    return `${limiterId.length}:${limiterId}:${key}`;
  return `u${hexUnits(JSON.stringify([limiterId, key]))}`;
}

/** The Redis key of the rate states of `key` under `limiterId`. */
export function stateKey(prefix: string, limiterId: string, key: string): string {
  return `${prefix}:{${identity(limiterId, key)}}:${STATE_SUFFIX}`;
}

/** The Redis key of the concurrency leases of `key` under `limiterId`. */
export function leaseKey(prefix: string, limiterId: string, key: string): string {
  return `${prefix}:{${identity(limiterId, key)}}:${LEASE_SUFFIX}`;
}

/** Escapes the glob characters of a `SCAN MATCH` pattern (`*`, `?`, `[`, `]`, `\\`), so they match themselves. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}

/** Hex of each UTF-16 code unit, four digits each: the escaped identity's encoding. */
function hexUnits(text: string): string {
  let hex = "";
  for (let i = 0; i < text.length; i++) hex += text.charCodeAt(i).toString(16).padStart(4, "0");
  return hex;
}

/**
 * The `SCAN MATCH` patterns that find every Redis key of every key under `limiterId`, and nothing else: the
 * names start with the identity's `<length>:<limiterId>:` (the length keeps `api` from matching `api:x`'s
 * names), and names in the escaped form start with the hex of `["<limiterId>",`. Glob characters of the prefix
 * and the limiter id are escaped.
 */
export function limiterPatterns(prefix: string, limiterId: string): string[] {
  const patterns: string[] = [];
  if (!LONE_SURROGATE.test(limiterId)) {
    patterns.push(`${escapeGlob(`${prefix}:{${limiterId.length}:${limiterId}:`)}*`);
  }
  // A key with a lone surrogate puts even a plain limiter id's names in the escaped form.
  patterns.push(`${escapeGlob(`${prefix}:{u${hexUnits(`[${JSON.stringify(limiterId)},`)}`)}*`);
  return patterns;
}

/**
 * Both names of the key that `name` (a rate-state or lease name) belongs to, or undefined for a name of
 * neither kind. Unlinking both at once removes the key whichever of the two a scan found.
 */
export function namesOfKey(name: string): readonly [string, string] | undefined {
  const base = name.slice(0, -1);
  if (!base.endsWith("}:")) return undefined;
  const suffix = name.slice(-1);
  if (suffix !== STATE_SUFFIX && suffix !== LEASE_SUFFIX) return undefined;
  return [`${base}${STATE_SUFFIX}`, `${base}${LEASE_SUFFIX}`];
}

const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ (CRC16_TABLE[((crc >> 8) ^ byte) & 0xff] ?? 0);
  return crc;
}

const encoder = new TextEncoder();

/**
 * The Redis Cluster hash slot of a key name (CRC16/XMODEM of the hash tag, or of the whole name when it has
 * none), as Redis computes it on the UTF-8 bytes.
 */
export function hashSlot(name: string): number {
  const bytes = encoder.encode(name);
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) return crc16(bytes.subarray(open + 1, close)) % 16384;
  }
  return crc16(bytes) % 16384;
}
