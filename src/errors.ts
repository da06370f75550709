/**
 * @module
 * Every error rate-sync throws. One class per concept, all extending {@link RateSyncError} with a stable
 * `code`, so callers can branch on `error.code` or on the `is…Error` guards (which work across realms and
 * duplicated package copies, unlike `instanceof`).
 */

import type { Decision } from "./core/types.ts";

/**
 * Marks every {@link RateSyncError}, on its prototype. A registered symbol, so the ESM and the CJS copies of the
 * package (or two installed versions) recognise each other's errors, while an unrelated error that merely has a
 * string `code` (an `fs` ENOENT) is not taken for one.
 */
const BRAND = Symbol.for("rate-sync.error");

/** Stable machine-readable codes of {@link RateSyncError}. */
export type RateSyncErrorCode =
  | "CONFIG_INVALID"
  | "UNKNOWN_LIMITER"
  | "INVALID_KEY"
  | "INVALID_ARGUMENT"
  | "RATE_LIMIT_EXCEEDED"
  | "STORE_ERROR"
  | "STORE_UNAVAILABLE"
  | "SYNC_UNAVAILABLE"
  | "LEASE_EXPIRED"
  | "CLOSED";

/** Base class of every error rate-sync throws or rejects with. */
export class RateSyncError extends Error {
  /** Stable code, safe to branch on. */
  readonly code: RateSyncErrorCode;

  constructor(code: RateSyncErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }

  static {
    // On the prototype: inherited by every subclass, not an own property of each error (nor enumerable).
    Object.defineProperty(RateSyncError.prototype, BRAND, { value: true });
  }
}

/**
 * What kind of problem a {@link ConfigIssue} is, stable and safe to branch on (the message is for people and
 * may be reworded):
 *
 * - `file`: the file cannot be used as a whole (missing, unreadable, empty, too large, or would remove every
 *   limiter).
 * - `toml_syntax`: the text is not valid TOML.
 * - `too_deep`: keys nest deeper than a rate-sync config can.
 * - `unknown_key`: a key rate-sync does not know (often a typo; the message suggests the closest one).
 * - `missing_key`: a required key is absent.
 * - `invalid_type`: a value of the wrong type (a table where a string is expected, …).
 * - `invalid_value`: a value of the right type that does not parse or is not one of the allowed names.
 * - `out_of_range`: a number or duration outside its range (see README, "Ranges of numbers").
 * - `conflict`: keys that contradict each other, or do not apply together.
 * - `unknown_store`: a limiter or `[defaults]` names a store that is not declared.
 * - `env`: a `${VAR}` reference that cannot be resolved.
 * - `more_issues`: the last issue of a long list, counting the issues not listed.
 */
export type ConfigIssueCode =
  | "file"
  | "toml_syntax"
  | "too_deep"
  | "unknown_key"
  | "missing_key"
  | "invalid_type"
  | "invalid_value"
  | "out_of_range"
  | "conflict"
  | "unknown_store"
  | "env"
  | "more_issues";

/** One problem found in a config file: where it is and what is wrong. */
export interface ConfigIssue {
  /** What kind of problem it is. */
  readonly code: ConfigIssueCode;
  /** The file the issue is in, or `"<config>"` for config given in code. */
  readonly file: string;
  /**
   * Dotted path of the value as TOML would write it, e.g. `limiters.api.rate` or `limiters."api:<id>".rate`;
   * empty for file-level problems. {@link keys} holds the same path unquoted.
   */
  readonly path: string;
  /** The keys of {@link path} from the document root, e.g. `["limiters", "api:<id>", "rate"]`. */
  readonly keys: readonly string[];
  /** 1-based line in the file, when the value could be located. */
  readonly line?: number;
  /** 1-based column in the file, when the value could be located. */
  readonly column?: number;
  /** What is wrong, in words a user can act on. */
  readonly message: string;
}

/** Formats one issue as `file:line:col path: message` (parts that are unknown are left out). */
export function formatConfigIssue(issue: ConfigIssue): string {
  let where = issue.file;
  if (issue.line !== undefined) {
    where += `:${issue.line}`;
    if (issue.column !== undefined) where += `:${issue.column}`;
  }
  return issue.path ? `${where} ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
}

/**
 * A config (file, TOML text, object or patch) is invalid. Lists every issue at once so a user can fix the
 * whole file in one pass.
 */
export class ConfigError extends RateSyncError {
  /** Every issue found, in file order. */
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], options?: { cause?: unknown }) {
    const lines = issues.map(formatConfigIssue);
    super(
      "CONFIG_INVALID",
      issues.length === 1
        ? `Invalid rate-sync config: ${lines[0]}`
        : `Invalid rate-sync config:\n  ${lines.join("\n  ")}`,
      options,
    );
    this.issues = Object.freeze([...issues]);
  }
}

/** No limiter, template or rate-sync style `base:rest` clone matches the key. */
export class UnknownLimiterError extends RateSyncError {
  /** The key that matched nothing. */
  readonly key: string;

  /** @param detail Why nothing matches, when known (say, no config file was found), appended to the message. */
  constructor(key: string, detail?: string) {
    super(
      "UNKNOWN_LIMITER",
      `No limiter or template matches the key ${JSON.stringify(key)}${detail === undefined ? "" : `: ${detail}`}`,
    );
    this.key = key;
  }
}

/** A key is not acceptable: empty, not a string, or longer than 1 KiB (in UTF-8 bytes). */
export class InvalidKeyError extends RateSyncError {
  constructor(message: string) {
    super("INVALID_KEY", message);
  }
}

/** An argument of a call (cost, timeout, duration, option) is invalid. Names the argument and the value. */
export class InvalidArgumentError extends RateSyncError {
  constructor(message: string) {
    super("INVALID_ARGUMENT", message);
  }
}

/**
 * `acquire()` could not be allowed within its timeout (thrown at once when the wait would pass it), or
 * `rateLimited(…, { mode: "try" })` was denied.
 */
export class RateLimitExceededError extends RateSyncError {
  /** The key that was limited. */
  readonly key: string;
  /** The limiter or template that denied it. */
  readonly limiter: string;
  /** When a retry could succeed, in milliseconds; `Infinity` when it never can (cost above capacity, deny list). */
  readonly retryAfterMs: number;
  /**
   * The decision that refused the call, as `tryAcquire` would have returned it (limit, remaining, policy, and for
   * a composite every member's). Always set when rate-sync throws the error; undefined only for one constructed
   * without it.
   */
  readonly decision: Decision | undefined;

  /** @param decision The refusing decision (`key`, `limiter` and `retryAfterMs` are normally its own). */
  constructor(key: string, limiter: string, retryAfterMs: number, decision?: Decision) {
    const hint =
      decision?.list === "deny"
        ? "the key or client address is on the deny list ([lists] deny) and is never allowed"
        : Number.isFinite(retryAfterMs)
          ? `retry after ${Math.ceil(retryAfterMs)} ms`
          : "the cost exceeds the limit's capacity and can never be allowed";
    super(
      "RATE_LIMIT_EXCEEDED",
      `Rate limit exceeded for ${JSON.stringify(key)} (limiter "${limiter}"): ${hint}`,
    );
    this.key = key;
    this.limiter = limiter;
    this.retryAfterMs = retryAfterMs;
    this.decision = decision;
  }
}

/** A store call failed or timed out. Usually handled by `on_store_error`; surfaced when it says `deny`. */
export class StoreError extends RateSyncError {
  /** The id of the store that failed. */
  readonly store: string;
  /**
   * When the failure denied a call (`acquire()` under `on_store_error = "deny"`): the denial, with
   * `degraded: "store-error"`. Undefined for a failure that decided nothing (`peek`, `reset`, `renew`).
   */
  readonly decision: Decision | undefined;

  /** @param options.decision The call the failure denied, if it denied one. */
  constructor(store: string, message: string, options?: { cause?: unknown; decision?: Decision }) {
    super("STORE_ERROR", `Store "${store}": ${message}`, options);
    this.store = store;
    this.decision = options?.decision;
  }
}

/**
 * An optional peer package is not installed: `ioredis` or `postgres` for a store that needs it, or
 * `prom-client` for the `rate-sync/prometheus` entry point.
 */
export class StoreUnavailableError extends RateSyncError {
  /** The id of the store that needs the package, or the entry point (`rate-sync/prometheus`) that does. */
  readonly store: string;
  /** The npm package to install. */
  readonly packageName: string;

  /**
   * @param store The store id, or the entry point's name when `options.entryPoint` is true.
   * @param options.entryPoint True when an entry point, not a store, needs the package (changes only the
   *   message's first words: `"rate-sync/prometheus" needs …` instead of `Store "main" needs …`).
   */
  constructor(store: string, packageName: string, options?: { cause?: unknown; entryPoint?: boolean }) {
    const who = options?.entryPoint === true ? JSON.stringify(store) : `Store "${store}"`;
    super(
      "STORE_UNAVAILABLE",
      `${who} needs the package "${packageName}", which is not installed: run \`npm install ${packageName}\``,
      options,
    );
    this.store = store;
    this.packageName = packageName;
  }
}

/**
 * `tryAcquireSync` met a store that cannot answer without I/O: a Redis or PostgreSQL store whose over-limit cache
 * does not already know the call's denial. Nothing was consumed; `tryAcquire` decides the same call.
 */
export class SyncUnavailableError extends RateSyncError {
  /** The id of the store that could not answer. */
  readonly store: string;
  /** Its engine (`redis`, `postgres`). */
  readonly engine: string;

  constructor(store: string, engine: string) {
    super("SYNC_UNAVAILABLE", `Store "${store}" (${engine}) cannot decide synchronously; use tryAcquire`);
    this.store = store;
    this.engine = engine;
  }
}

/** `lease.renew()` found the lease gone: it expired (its holder did not renew in time) or was released. */
export class LeaseExpiredError extends RateSyncError {
  /** The key the lease was taken on. */
  readonly key: string;

  constructor(key: string) {
    super(
      "LEASE_EXPIRED",
      `The lease on ${JSON.stringify(key)} has expired or was released; it cannot be renewed`,
    );
    this.key = key;
  }
}

/** The instance was closed; it accepts no more calls. */
export class ClosedError extends RateSyncError {
  constructor() {
    super("CLOSED", "This RateSync instance is closed");
  }
}

function hasCode(value: unknown, code: RateSyncErrorCode): boolean {
  return isRateSyncError(value) && value.code === code;
}

/**
 * True for any error rate-sync throws, from this copy of the package or another (ESM and CJS, another realm),
 * and for nothing else: an error that merely has a string `code` (an `fs` ENOENT) is not one.
 */
export function isRateSyncError(value: unknown): value is RateSyncError {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { [BRAND]?: unknown })[BRAND] === true &&
    typeof (value as { code?: unknown }).code === "string"
  );
}
/** True for a {@link ConfigError}. */
export const isConfigError = (value: unknown): value is ConfigError => hasCode(value, "CONFIG_INVALID");
/** True for an {@link UnknownLimiterError}. */
export const isUnknownLimiterError = (value: unknown): value is UnknownLimiterError =>
  hasCode(value, "UNKNOWN_LIMITER");
/** True for an {@link InvalidKeyError}. */
export const isInvalidKeyError = (value: unknown): value is InvalidKeyError => hasCode(value, "INVALID_KEY");
/** True for a {@link RateLimitExceededError}. */
export const isRateLimitExceededError = (value: unknown): value is RateLimitExceededError =>
  hasCode(value, "RATE_LIMIT_EXCEEDED");
/** True for a {@link StoreError}. */
export const isStoreError = (value: unknown): value is StoreError => hasCode(value, "STORE_ERROR");
/** True for a {@link SyncUnavailableError}. */
export const isSyncUnavailableError = (value: unknown): value is SyncUnavailableError =>
  hasCode(value, "SYNC_UNAVAILABLE");
/** True for a {@link LeaseExpiredError}. */
export const isLeaseExpiredError = (value: unknown): value is LeaseExpiredError =>
  hasCode(value, "LEASE_EXPIRED");
/** True for a {@link StoreUnavailableError}. */
export const isStoreUnavailableError = (value: unknown): value is StoreUnavailableError =>
  hasCode(value, "STORE_UNAVAILABLE");
