/**
 * @module
 * IP addresses and CIDR ranges without `node:net`, so the shared HTTP core also runs where only web
 * standards exist (Bun, Deno, workers behind the Hono adapter). Addresses are parsed into 16 bytes (IPv4 as
 * IPv4-mapped IPv6), which makes range checks and /64 grouping one byte loop for both families.
 */

/** A parsed address: 16 bytes, plus whether it was written (or mapped) as IPv4. */
export interface ParsedIp {
  readonly bytes: Uint8Array;
  readonly v4: boolean;
}

/** A CIDR range (`10.0.0.0/8`, `2001:db8::/32`; a bare address is a /32 or /128). */
export interface IpRange {
  readonly base: ParsedIp;
  /** Prefix length in the 128-bit space (an IPv4 /8 is a /104 here). */
  readonly prefix128: number;
}

function parseV4Into(text: string, out: Uint8Array, at: number): boolean {
  const parts = text.split(".");
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    // Strict dotted decimal: no leading zeros (octal ambiguity), no signs, no empty parts.
    if (!/^(?:0|[1-9]\d{0,2})$/.test(part)) return false;
    const value = Number(part);
    if (value > 255) return false;
    out[at + i] = value;
  }
  return true;
}

function parseV6(text: string): Uint8Array | undefined {
  let hexText = text;
  // An embedded IPv4 address may only be the very last group (`::ffff:1.2.3.4`): rewrite it as two words.
  if (text.includes(".")) {
    const lastColon = text.lastIndexOf(":");
    const v4 = new Uint8Array(16);
    if (!parseV4Into(text.slice(lastColon + 1), v4, 12)) return undefined;
    const high = ((v4[12]! << 8) | v4[13]!).toString(16);
    const low = ((v4[14]! << 8) | v4[15]!).toString(16);
    hexText = `${text.slice(0, lastColon + 1)}${high}:${low}`;
  }
  const halves = hexText.split("::");
  if (halves.length > 2) return undefined;
  const words = (part: string | undefined): number[] | undefined => {
    if (part === undefined || part === "") return [];
    const out: number[] = [];
    for (const group of part.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
      out.push(Number.parseInt(group, 16));
    }
    return out;
  };
  const head = words(halves[0]);
  const tail = halves.length === 2 ? words(halves[1]) : [];
  if (head === undefined || tail === undefined) return undefined;
  // Without `::` all eight words are written; with it, `::` stands for at least one zero word.
  if (halves.length === 1 ? head.length !== 8 : head.length + tail.length > 7) return undefined;
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[i * 2] = all[i]! >> 8;
    out[i * 2 + 1] = all[i]! & 0xff;
  }
  return out;
}

function isV4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/**
 * Parses an IP address. Accepts IPv4, IPv6 (with `::`, embedded IPv4 and a `%zone`, which is dropped), and
 * IPv4-mapped IPv6 (`::ffff:1.2.3.4`, as a dual-stack socket reports IPv4 peers), which counts as IPv4.
 * Returns undefined for anything else.
 */
export function parseIp(text: string): ParsedIp | undefined {
  const trimmed = text.trim();
  if (trimmed.length === 0 || trimmed.length > 64) return undefined;
  if (!trimmed.includes(":")) {
    const bytes = new Uint8Array(16);
    bytes[10] = 0xff;
    bytes[11] = 0xff;
    return parseV4Into(trimmed, bytes, 12) ? { bytes, v4: true } : undefined;
  }
  const zone = trimmed.indexOf("%");
  const bytes = parseV6(zone === -1 ? trimmed : trimmed.slice(0, zone));
  return bytes === undefined ? undefined : { bytes, v4: isV4Mapped(bytes) };
}

/**
 * Parses an address as it appears in `X-Forwarded-For` or a socket: also accepts `1.2.3.4:5678`,
 * `[2001:db8::1]` and `[2001:db8::1]:443` (some proxies append the port).
 */
export function parseForwardedAddress(text: string): ParsedIp | undefined {
  const trimmed = text.trim();
  if (trimmed.startsWith("[")) {
    const end = trimmed.indexOf("]");
    if (end === -1) return undefined;
    const rest = trimmed.slice(end + 1);
    if (rest !== "" && !/^:\d{1,5}$/.test(rest)) return undefined;
    return parseIp(trimmed.slice(1, end));
  }
  const portMatch = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(trimmed);
  return parseIp(portMatch ? portMatch[1]! : trimmed);
}

/** Canonical text of an address: dotted IPv4, or RFC 5952 IPv6 (lowercase, longest zero run as `::`). */
export function formatIp(ip: ParsedIp): string {
  const b = ip.bytes;
  if (ip.v4) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((b[i * 2]! << 8) | b[i * 2 + 1]!);
  // RFC 5952: compress the longest run of two or more zero words (the first one on a tie).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (list: number[]) => list.map((w) => w.toString(16)).join(":");
  if (bestStart === -1) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLength))}`;
}

/** The address with every bit after the first `prefix128` cleared. */
function maskBytes(bytes: Uint8Array, prefix128: number): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, prefix128 - i * 8));
    out[i] = bits === 0 ? 0 : bytes[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

/**
 * Parses `addr/len` or a bare address. The prefix length is in the address's own family (`/8` for IPv4).
 * Returns undefined when the text is not a valid range.
 */
export function parseRange(text: string): IpRange | undefined {
  const slash = text.indexOf("/");
  const base = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (!base) return undefined;
  const max = base.v4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const lengthText = text.slice(slash + 1).trim();
    if (!/^\d{1,3}$/.test(lengthText)) return undefined;
    prefix = Number(lengthText);
    if (prefix > max) return undefined;
  }
  const prefix128 = base.v4 ? prefix + 96 : prefix;
  return { base: { bytes: maskBytes(base.bytes, prefix128), v4: base.v4 }, prefix128 };
}

/** True when `ip` lies in `range`. */
export function inRange(ip: ParsedIp, range: IpRange): boolean {
  const masked = maskBytes(ip.bytes, range.prefix128);
  for (let i = 0; i < 16; i++) if (masked[i] !== range.base.bytes[i]) return false;
  return true;
}

/**
 * The text `<ip>` stands for: an IPv4 address as is; an IPv6 address as its network of `prefix` bits
 * (`2001:db8:1:2::/64`), because one IPv6 host usually owns a whole /64 and could otherwise rotate
 * addresses to escape its limit. `prefix` 128 (or `false`) keeps the full address.
 */
export function groupIp(ip: ParsedIp, prefix: number | false): string {
  if (ip.v4 || prefix === false || prefix >= 128) return formatIp(ip);
  return `${formatIp({ bytes: maskBytes(ip.bytes, prefix), v4: false })}/${prefix}`;
}
