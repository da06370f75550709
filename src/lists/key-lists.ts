/**
 * @module
 * Allow and deny lists (`[lists]`): key globs and client-address ranges, compiled once per config snapshot
 * into matchers that cost a set lookup or two per call.
 *
 * An entry is one of:
 * - a CIDR range (`10.0.0.0/8`, `2001:db8::/32`): matched against the client address of a call (the HTTP
 *   adapters pass it; in code, the `ip` option), never against the key;
 * - a bare IP address (`203.0.113.7`, `::1`): a range of one address, and also an exact key;
 * - a key glob: `*` stands for any run of characters (`:` included, possibly none), `\*` for a literal `*`
 *   and `\\` for a literal `\`; the glob must match the whole key. Without `*` it is an exact key.
 *
 * Matching, fastest first: exact keys in a `Set`; globs that are a literal prefix and one trailing `*` in a
 * `Set` per prefix length; other globs by a linear-time wildcard walk (never a regular expression, which
 * can backtrack exponentially on a crafted 1 KiB key); ranges by masking the address per prefix length.
 */

import { type IpRange, type ParsedIp, parseIp, parseRange } from "../http/ip.ts";

/** What a list says about a call: admitted without a store (`allow`), refused without a store (`deny`). */
export type ListVerdict = "allow" | "deny";

/** The HTTP status of a call refused by the deny list. */
export type DenyStatus = 403 | 429;

/** Default HTTP status of a denied-by-list request: the client is refused, not asked to slow down. */
export const DEFAULT_DENY_STATUS: DenyStatus = 403;

/** `[lists]` as validated: the entries as written, and the deny status. */
export interface ListsSource {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
  readonly denyStatus: DenyStatus;
}

/** One parsed entry. */
type Entry =
  | { readonly kind: "exact"; readonly key: string }
  | { readonly kind: "prefix"; readonly prefix: string }
  | { readonly kind: "glob"; readonly parts: readonly string[] }
  | { readonly kind: "range"; readonly range: IpRange; readonly alsoKey?: string };

/** Text that is written like a CIDR range (an address, a slash, digits), right or wrong. */
const LOOKS_LIKE_CIDR = /^[0-9A-Fa-f:.]+\/[^/]*$/;

/**
 * Parses one list entry, or says what is wrong with it (the message names the entry).
 * @example parseEntry("api:*") // { kind: "prefix", prefix: "api:" }
 */
export function parseEntry(text: string): Entry | { readonly problem: string } {
  const shown = JSON.stringify(text);
  if (text === "") return { problem: "an empty entry matches no key; remove it" };
  if (text.trim() !== text) return { problem: `${shown} has spaces around it; keys are matched exactly` };
  if (LOOKS_LIKE_CIDR.test(text) && (text.includes(".") || text.includes(":"))) {
    const problem = cidrProblem(text);
    if (problem !== undefined) return { problem: `${shown} is not a valid CIDR range: ${problem}` };
    return { kind: "range", range: parseRange(text)! };
  }
  if (parseIp(text) !== undefined) return { kind: "range", range: parseRange(text)!, alsoKey: text };
  // Split on unescaped `*`, unescaping `\*` and `\\`.
  const parts: string[] = [""];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "\\") {
      const next = text[i + 1];
      if (next !== "*" && next !== "\\") {
        return {
          problem: `${shown}: a backslash escapes only "*" or another backslash (a literal backslash is two backslashes in the glob)`,
        };
      }
      parts[parts.length - 1] += next;
      i++;
    } else if (c === "*") parts.push("");
    else parts[parts.length - 1] += c;
  }
  if (parts.length === 1) return { kind: "exact", key: parts[0]! };
  if (parts.length === 2 && parts[1] === "") return { kind: "prefix", prefix: parts[0]! };
  return { kind: "glob", parts };
}

/** Why a text written as `address/length` is not a valid range, or undefined when it is one. */
function cidrProblem(text: string): string | undefined {
  const slash = text.indexOf("/");
  const address = text.slice(0, slash);
  const length = text.slice(slash + 1);
  const ip = parseIp(address);
  if (ip === undefined) return `${JSON.stringify(address)} is not an IPv4 or IPv6 address`;
  const max = ip.v4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(length) || Number(length) > max) {
    return `the prefix length must be a whole number from 0 to ${max}, got ${JSON.stringify(length)}`;
  }
  const range = parseRange(text)!;
  if (!sameBytes(ip.bytes, range.base.bytes)) {
    return "it has bits set after the prefix length (write the network address, e.g. 10.0.0.0/8)";
  }
  return undefined;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * True when `key` matches a glob split at its `*`s (`parts[0]` first, `parts.at(-1)` last, the others in
 * order between): the classic greedy walk with one point to go back to, O(key × glob) at worst.
 */
export function matchGlob(parts: readonly string[], key: string): boolean {
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (key.length < first.length + last.length || !key.startsWith(first) || !key.endsWith(last)) return false;
  let at = first.length;
  const end = key.length - last.length;
  // Each middle part at its earliest place after the previous one: taking the earliest never loses a match.
  for (let p = 1; p < parts.length - 1; p++) {
    const part = parts[p]!;
    if (part === "") continue;
    const found = key.indexOf(part, at);
    if (found === -1 || found + part.length > end) return false;
    at = found + part.length;
  }
  return at <= end;
}

/** An address masked to a prefix length, as a 16-character string (a `Set` key): one per distinct length. */
function maskedKey(bytes: Uint8Array, prefix128: number): string {
  let out = "";
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, prefix128 - i * 8));
    const byte = bits === 0 ? 0 : bytes[i]! & ((0xff << (8 - bits)) & 0xff);
    out += String.fromCharCode(byte);
  }
  return out;
}

/** Adds `value` to the set of `key`, creating it. */
function addTo(map: Map<number, Set<string>>, key: number, value: string): void {
  const set = map.get(key);
  if (set === undefined) map.set(key, new Set([value]));
  else set.add(value);
}

/** One compiled list (allow or deny). */
export class KeyList {
  readonly #exact = new Set<string>();
  /** Literal prefixes by length: a key is looked up once per distinct length. */
  readonly #prefixes = new Map<number, Set<string>>();
  readonly #globs: (readonly string[])[] = [];
  /** Network addresses (masked, as 16-character strings) by prefix length in the 128-bit space. */
  readonly #ranges = new Map<number, Set<string>>();
  /** True when the list has address ranges (only then is a call's address parsed). */
  readonly hasRanges: boolean;
  /** True when the list has key entries. */
  readonly hasKeys: boolean;

  /** @param entries - Entries that {@link parseEntry} accepted (validation happened before). */
  constructor(entries: readonly string[]) {
    for (const text of entries) {
      const entry = parseEntry(text);
      if ("problem" in entry) throw new Error(`invalid list entry: ${entry.problem}`);
      switch (entry.kind) {
        case "exact":
          this.#exact.add(entry.key);
          break;
        case "prefix": {
          addTo(this.#prefixes, entry.prefix.length, entry.prefix);
          break;
        }
        case "glob":
          this.#globs.push(entry.parts);
          break;
        case "range": {
          const { range } = entry;
          addTo(this.#ranges, range.prefix128, maskedKey(range.base.bytes, range.prefix128));
          if (entry.alsoKey !== undefined) this.#exact.add(entry.alsoKey);
          break;
        }
      }
    }
    this.hasRanges = this.#ranges.size > 0;
    this.hasKeys = this.#exact.size > 0 || this.#prefixes.size > 0 || this.#globs.length > 0;
  }

  /** True when a key glob of the list matches the whole key. */
  matchesKey(key: string): boolean {
    if (this.#exact.has(key)) return true;
    for (const [length, set] of this.#prefixes) {
      if (key.length >= length && set.has(key.slice(0, length))) return true;
    }
    for (const parts of this.#globs) if (matchGlob(parts, key)) return true;
    return false;
  }

  /** True when a range of the list holds the address. */
  matchesIp(ip: ParsedIp): boolean {
    for (const [prefix128, set] of this.#ranges) if (set.has(maskedKey(ip.bytes, prefix128))) return true;
    return false;
  }
}

/**
 * The lists of one config snapshot. The deny list wins: a key (or address) on both lists is denied, so an
 * over-broad allow entry (`internal:*`) never lets a blocked key through.
 */
export class CompiledLists {
  readonly allow: KeyList;
  readonly deny: KeyList;
  /** Whether either list has ranges: only then is a call's address looked at. */
  readonly hasRanges: boolean;

  constructor(readonly source: ListsSource) {
    this.allow = new KeyList(source.allow);
    this.deny = new KeyList(source.deny);
    this.hasRanges = this.allow.hasRanges || this.deny.hasRanges;
    Object.freeze(this);
  }

  /** The HTTP status of a request refused by the deny list. */
  get denyStatus(): DenyStatus {
    return this.source.denyStatus;
  }

  /**
   * What the lists say about a key, and about the client address when one is given (text, as a socket or
   * `X-Forwarded-For` reports it); undefined when neither list matches. An address that does not parse
   * matches no range.
   */
  verdict(key: string, ip?: string): ListVerdict | undefined {
    let parsed: ParsedIp | undefined;
    if (ip !== undefined && this.hasRanges) parsed = parseIp(ip);
    if (this.deny.matchesKey(key) || (parsed !== undefined && this.deny.matchesIp(parsed))) return "deny";
    if (this.allow.matchesKey(key) || (parsed !== undefined && this.allow.matchesIp(parsed))) return "allow";
    return undefined;
  }
}

/**
 * Compiles `[lists]` as validated (entries already checked), or undefined when it lists nothing: a config
 * without entries costs no list lookup per call.
 */
export function compileLists(
  parsed:
    | {
        readonly allow?: readonly string[] | undefined;
        readonly deny?: readonly string[] | undefined;
        readonly deny_status?: DenyStatus | undefined;
      }
    | undefined,
): CompiledLists | undefined {
  const allow = parsed?.allow ?? [];
  const deny = parsed?.deny ?? [];
  if (allow.length === 0 && deny.length === 0) return undefined;
  return new CompiledLists(
    Object.freeze({ allow, deny, denyStatus: parsed?.deny_status ?? DEFAULT_DENY_STATUS }),
  );
}
