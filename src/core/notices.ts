/**
 * @module
 * One-line notices for failures nobody listens to. An event without a listener used to vanish: an invalid
 * save, a store URL with a typo under `on_store_error = "allow"` (every call let through) left no trace
 * anywhere. When the relevant event has no listener, the instance writes one line instead — to stderr, or to
 * the `logger` option — at most once per distinct problem per minute, so a failing store never prints a line
 * per call. `quiet: true` turns notices off.
 */

/** Anything with `warn` and `error` methods taking a message: `console`, pino, winston, bunyan… */
export interface NoticeLogger {
  warn(message: string): unknown;
  error(message: string): unknown;
}

/** Where notices go: the `logger` and `quiet` options of a RateSync instance. */
export interface NoticeOptions {
  /**
   * Receives the notices instead of stderr (`logger.warn` / `logger.error`, one message each).
   * @default stderr
   */
  readonly logger?: NoticeLogger;
  /** Writes no notice at all (events still fire for their listeners). @default false */
  readonly quiet?: boolean;
}

/** The same problem is reported at most once per this many milliseconds. */
export const NOTICE_INTERVAL_MS = 60_000;

/** Past this many remembered problems, the ones older than the interval are forgotten. */
const MAX_REMEMBERED = 256;

/** Longest message written; a huge config error stays one readable line. */
const MAX_LENGTH = 2_000;

/** Every notice starts with this, so it can be found (and filtered) among an application's own lines. */
export const NOTICE_PREFIX = "rate-sync: ";

/** Makes a message one line of bounded length: newlines of multi-issue errors become `; `. */
export function oneLine(message: string): string {
  const flat = message.replace(/\s*[\r\n]+\s*/g, "; ").trim();
  return flat.length > MAX_LENGTH ? `${flat.slice(0, MAX_LENGTH - 1)}…` : flat;
}

function writeToStderr(line: string): void {
  try {
    process.stderr.write(`${line}\n`);
  } catch {
    // A closed stderr must never turn a notice into a failure of the call that caused it.
  }
}

/**
 * Writes rate-limited one-line notices. Each notice has a `topic`: notices of one topic within
 * {@link NOTICE_INTERVAL_MS} of the last one written are dropped (the topic names the problem, e.g. the store
 * and its error message, so a store failing on every call gives one line a minute).
 *
 * @example
 * ```ts
 * const notices = new Notices({ logger: pino() });
 * notices.warn(`store:${id}:${error.message}`, `store "${id}" failed: ${error.message}`);
 * ```
 */
export class Notices {
  readonly #logger: NoticeLogger | undefined;
  readonly #quiet: boolean;
  readonly #now: () => number;
  /** When each topic was last written (monotonic ms). */
  readonly #last = new Map<string, number>();

  constructor(options: NoticeOptions = {}, now: () => number = () => performance.now()) {
    this.#logger = options.logger;
    this.#quiet = options.quiet === true;
    this.#now = now;
  }

  /** True when notices are turned off: callers can skip building a message. */
  get quiet(): boolean {
    return this.#quiet;
  }

  /** A problem that degrades service (a store failing, a limiter gone): written as a warning. */
  warn(topic: string, message: string): boolean {
    return this.#write("warn", topic, message);
  }

  /** A change that was refused (an invalid reload): written as an error. */
  error(topic: string, message: string): boolean {
    return this.#write("error", topic, message);
  }

  /** Writes unless quiet or the topic was written within the interval; says whether it wrote. */
  #write(level: "warn" | "error", topic: string, message: string): boolean {
    if (this.#quiet) return false;
    const now = this.#now();
    const last = this.#last.get(topic);
    if (last !== undefined && now - last < NOTICE_INTERVAL_MS) return false;
    this.#remember(topic, now);
    const line = NOTICE_PREFIX + oneLine(message);
    const logger = this.#logger;
    if (logger === undefined) {
      writeToStderr(line);
      return true;
    }
    try {
      logger[level](line);
    } catch {
      // A broken logger is the application's to fix; it must not break the call that caused the notice.
    }
    return true;
  }

  #remember(topic: string, now: number): void {
    if (this.#last.size >= MAX_REMEMBERED && !this.#last.has(topic)) {
      for (const [key, at] of this.#last) if (now - at >= NOTICE_INTERVAL_MS) this.#last.delete(key);
      // Still full of recent topics (a flood of distinct errors): the oldest goes, the bound holds.
      if (this.#last.size >= MAX_REMEMBERED) {
        const oldest = this.#last.keys().next().value;
        if (oldest !== undefined) this.#last.delete(oldest);
      }
    }
    // Re-inserted so the map stays in order of last write (the oldest first).
    this.#last.delete(topic);
    this.#last.set(topic, now);
  }
}
