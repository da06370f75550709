/**
 * @module
 * Request key templates: `"api:<ip>"`, `"login:user:<user>"`, `"route:<method>:<path>"`,
 * `"tenant:<header:x-tenant-id>"`. Parsed once when the middleware is created (an unknown placeholder is an
 * error then, not a surprise on the first request), filled per request.
 */

import { hashKey, MAX_KEY_BYTES } from "../decide/keys.ts";
import { InvalidArgumentError } from "../errors.ts";

/** The values a request offers to a template. Missing ones are `undefined`. */
export interface RequestValues {
  /** The client address as `<ip>` prints it (IPv6 grouped by subnet). */
  readonly ip: string;
  readonly method: string;
  readonly path: string;
  /** A request header by lowercase name (several values joined with `, `). */
  header(name: string): string | undefined;
  /** What the `user(req)` option returned, if anything. */
  readonly user: string | undefined;
}

type Part =
  | { readonly kind: "literal"; readonly text: string }
  | { readonly kind: "ip" | "method" | "path" | "user" }
  | { readonly kind: "header"; readonly name: string };

const PLACEHOLDER = /<([^<>]*)>/g;

/** A parsed key template. */
export class KeyTemplate {
  /** The template as written. */
  readonly source: string;
  readonly #parts: readonly Part[];
  /** True when the template has a `<user>` placeholder (so `user(req)` must be asked). */
  readonly usesUser: boolean;

  /** @throws InvalidArgumentError for an unknown or empty placeholder. */
  constructor(source: string) {
    const parts: Part[] = [];
    let last = 0;
    for (const match of source.matchAll(PLACEHOLDER)) {
      if (match.index > last) parts.push({ kind: "literal", text: source.slice(last, match.index) });
      parts.push(parsePlaceholder(match[1]!, source));
      last = match.index + match[0].length;
    }
    if (last < source.length) parts.push({ kind: "literal", text: source.slice(last) });
    this.source = source;
    this.#parts = parts;
    this.usesUser = parts.some((part) => part.kind === "user");
  }

  /**
   * The key for a request; undefined when a placeholder has no value (no user, an absent header). With
   * `fallbackToIp`, a missing value is replaced by the client IP instead, so the key always exists. A key that
   * would pass 1 KiB has each request value replaced by `"\0sha256:" + digest` (see below).
   */
  fill(values: RequestValues, fallbackToIp = false): string | undefined {
    let key = "";
    const requestParts: string[] = [];
    for (const part of this.#parts) {
      let value: string | undefined;
      switch (part.kind) {
        case "literal":
          value = part.text;
          break;
        case "ip":
          value = values.ip;
          break;
        case "method":
          value = values.method;
          break;
        case "path":
          value = values.path;
          break;
        case "user":
          value = values.user;
          break;
        case "header":
          value = values.header(part.name);
          break;
      }
      if (value === undefined || value === "") {
        if (!fallbackToIp) return undefined;
        value = values.ip;
      }
      key += value;
      if (part.kind !== "literal") requestParts.push(value);
    }
    // A request value can make the key longer than a key may be (a 5 KB header, a long path): rather than fail
    // the request with InvalidKeyError (a 500 any client could trigger), each request value is replaced by a
    // digest, so distinct values still get distinct limits. The marker starts with NUL, which an HTTP header
    // value or request path cannot hold, so a client cannot type a digest to share someone else's bucket.
    if (key.length > MAX_KEY_BYTES / 3 && Buffer.byteLength(key, "utf8") > MAX_KEY_BYTES) {
      let at = 0;
      key = "";
      for (const part of this.#parts) {
        key += part.kind === "literal" ? part.text : `\u0000sha256:${hashKey(requestParts[at++] ?? "")}`;
      }
    }
    return key;
  }
}

function parsePlaceholder(inner: string, source: string): Part {
  const name = inner.trim().toLowerCase();
  if (name === "ip" || name === "method" || name === "path" || name === "user") return { kind: name };
  if (name.startsWith("header:") && name.length > "header:".length) {
    return { kind: "header", name: name.slice("header:".length).trim() };
  }
  throw new InvalidArgumentError(
    `key ${JSON.stringify(source)}: unknown placeholder <${inner}>; use <ip>, <method>, <path>, <user> or <header:name>`,
  );
}

/**
 * Keys of a request from several templates. Rule for missing values: a template whose placeholder has no value
 * for this request (`<user>` when `user(req)` returned nothing, `<header:x>` when the header is absent) is
 * left out while at least one other template yields a key. When none does, the first template is used with
 * the client IP in place of each missing value: an anonymous request is limited per IP, never unlimited.
 */
export function fillKeys(templates: readonly KeyTemplate[], values: RequestValues): string[] {
  const keys: string[] = [];
  for (const template of templates) {
    const key = template.fill(values);
    if (key !== undefined) keys.push(key);
  }
  if (keys.length === 0 && templates.length > 0) keys.push(templates[0]!.fill(values, true)!);
  return keys;
}
