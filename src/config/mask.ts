/**
 * @module
 * Secrets out of sight: URL passwords are masked everywhere a URL is shown (errors, `rate-sync check`).
 */

/** What a hidden secret is shown as. */
export const MASK = "****";

// scheme://user:password@host — matched by hand rather than with `new URL()`, which rejects some valid
// connection strings (several hosts, unix sockets) and would then leave the password unmasked.
const CREDENTIALS = /^([a-z][a-z0-9+.-]*:\/\/)([^@/?#]*)@/i;

/**
 * Masks the password of a connection URL, keeping the user name (useful when debugging) and everything else.
 * URLs without a password are returned unchanged.
 *
 * @example
 * maskUrl("redis://:s3cret@cache:6379/0");        // "redis://:****@cache:6379/0"
 * maskUrl("postgres://app:s3cret@db/rates");      // "postgres://app:****@db/rates"
 */
export function maskUrl(url: string): string {
  const match = CREDENTIALS.exec(url);
  if (!match) return url;
  const [whole, scheme = "", userInfo = ""] = match;
  const colon = userInfo.indexOf(":");
  if (colon === -1) return url;
  return `${scheme}${userInfo.slice(0, colon)}:${MASK}@${url.slice(whole.length)}`;
}
