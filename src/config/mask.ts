/**
 * @module
 * Secrets out of sight: URL passwords are masked everywhere a URL is shown (errors, notices, `rate-sync check`),
 * always with the same {@link MASK}.
 */

/** What a hidden secret is shown as. */
export const MASK = "****";

// scheme://user:password@ — matched by hand rather than with `new URL()`, which rejects some valid connection
// strings (several hosts, unix sockets) and would then leave the password unmasked. The password runs to the
// last `@` before whitespace, so one holding an unescaped `@` is masked whole.
const CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):[^@\s]*@/gi;

/**
 * Replaces the password of every URL in `text` with {@link MASK}, keeping the user name (useful when debugging)
 * and everything else, so messages that echo a connection string never leak it. URLs without a password are
 * left unchanged.
 *
 * @example maskSecrets("connect redis://app:s3cret@db:6379 failed") // "connect redis://app:****@db:6379 failed"
 */
export function maskSecrets(text: string): string {
  return text.replace(CREDENTIALS, `$1:${MASK}@`);
}

/**
 * {@link maskSecrets} of one connection URL.
 *
 * @example
 * maskUrl("redis://:s3cret@cache:6379/0");        // "redis://:****@cache:6379/0"
 * maskUrl("postgres://app:s3cret@db/rates");      // "postgres://app:****@db/rates"
 */
export function maskUrl(url: string): string {
  return maskSecrets(url);
}
