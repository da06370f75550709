/**
 * @module
 * Which address a request comes from (SPEC §6). Without a trusted proxy it is the socket's peer: headers are
 * written by the client and prove nothing. With one, `X-Forwarded-For` is read **from the right**: each
 * trusted proxy appends the address it saw, so the right-most entry that is not a trusted proxy is the
 * client. Entries to its left were sent by the client itself and never win, however they are spoofed.
 */

import { InvalidArgumentError } from "../errors.ts";
import { type IpRange, inRange, type ParsedIp, parseForwardedAddress, parseRange } from "./ip.ts";

/**
 * Which proxies in front of the app to believe:
 * - a number `n`: exactly `n` proxies sit in front (the socket peer is the last of them), so the client is
 *   the `n`-th `X-Forwarded-For` entry from the right;
 * - a list of addresses or CIDR ranges (`"10.0.0.0/8"`, `"::1"`), or the names `"loopback"`,
 *   `"linklocal"`, `"uniquelocal"`: every hop in those ranges is a proxy.
 * @default 0 (no proxy: the socket address)
 */
export type TrustProxy = number | readonly string[];

/** Named ranges, as Express spells them, so a config can say `["loopback", "uniquelocal"]`. */
const NAMED_RANGES: Readonly<Record<string, readonly string[]>> = {
  loopback: ["127.0.0.0/8", "::1/128"],
  linklocal: ["169.254.0.0/16", "fe80::/10"],
  uniquelocal: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
};

/** Parses a list of addresses, ranges and names. @throws InvalidArgumentError naming the bad entry. */
export function parseRanges(entries: readonly string[], option: string): IpRange[] {
  const ranges: IpRange[] = [];
  for (const entry of entries) {
    const named = NAMED_RANGES[entry.trim().toLowerCase()];
    for (const text of named ?? [entry]) {
      const range = typeof text === "string" ? parseRange(text.trim()) : undefined;
      if (!range) {
        throw new InvalidArgumentError(
          `${option}: ${JSON.stringify(entry)} is not an IP address, a CIDR range or one of ${Object.keys(NAMED_RANGES).join(", ")}`,
        );
      }
      ranges.push(range);
    }
  }
  return ranges;
}

/** A compiled `trustProxy` setting. */
export type ProxyTrust =
  | { readonly kind: "none" }
  | { readonly kind: "hops"; readonly hops: number }
  | { readonly kind: "ranges"; readonly ranges: readonly IpRange[] };

/** Validates and compiles `trustProxy`. @throws InvalidArgumentError */
export function compileTrustProxy(trustProxy: TrustProxy | undefined): ProxyTrust {
  if (trustProxy === undefined || trustProxy === 0) return { kind: "none" };
  if (typeof trustProxy === "number") {
    if (!Number.isInteger(trustProxy) || trustProxy < 0) {
      throw new InvalidArgumentError(
        `trustProxy: a hop count must be a whole number ≥ 0, got ${String(trustProxy)}`,
      );
    }
    return { kind: "hops", hops: trustProxy };
  }
  if (!Array.isArray(trustProxy)) {
    // `true` ("trust everything") is refused on purpose: it makes the left-most, client-written entry win.
    throw new InvalidArgumentError(
      `trustProxy: expected a hop count or a list of addresses/CIDR ranges, got ${JSON.stringify(trustProxy)}`,
    );
  }
  return { kind: "ranges", ranges: parseRanges(trustProxy, "trustProxy") };
}

function trusted(ip: ParsedIp, ranges: readonly IpRange[]): boolean {
  for (const range of ranges) if (inRange(ip, range)) return true;
  return false;
}

/**
 * The client's address. `socketAddress` is the TCP peer; `forwardedFor` the `X-Forwarded-For` header (several
 * headers joined with commas). Returns undefined only when the socket address itself is unknown or invalid.
 *
 * When a trusted proxy reports an entry that is not an address, the walk stops at that proxy: the request is
 * attributed to the proxy (shared with every such request) rather than to a value the client chose.
 */
export function clientIp(
  socketAddress: string | undefined,
  forwardedFor: string | undefined,
  trust: ProxyTrust,
): ParsedIp | undefined {
  const socket = socketAddress === undefined ? undefined : parseForwardedAddress(socketAddress);
  if (!socket || trust.kind === "none" || !forwardedFor) return socket;
  const entries = forwardedFor.split(",");
  if (trust.kind === "hops") {
    // The socket peer is hop 1; hop n reported entry[length - n]. Walk left at most `hops` times.
    let current = socket;
    for (let hop = 1; hop <= trust.hops; hop++) {
      const entry = entries[entries.length - hop];
      if (entry === undefined) return current;
      const ip = parseForwardedAddress(entry);
      if (!ip) return current;
      current = ip;
    }
    return current;
  }
  let current = socket;
  for (let i = entries.length - 1; i >= 0; i--) {
    if (!trusted(current, trust.ranges)) return current;
    const ip = parseForwardedAddress(entries[i]!);
    if (!ip) return current;
    current = ip;
  }
  return current;
}
