/**
 * @module
 * The module-level API: a default RateSync instance loaded on first use from the config search path
 * (`RATE_SYNC_CONFIG`, `./rate-sync.toml`, `./config/rate-sync.toml`), so code can simply
 * `await acquire("api:42")`. With no file found it starts empty; limiters can then be configured in code.
 * The file it loaded is watched (edits apply without a restart) unless `configure(…, { watch: false })` or
 * `RATE_SYNC_WATCH=0` says otherwise; the watch never keeps the process alive. `close()` ends it all.
 * `rateLimited` (in `rate-limited.ts`) uses this instance unless given another.
 */

import type { NoticeOptions } from "./notices.ts";
import { type KeyInput, RateSync } from "./rate-sync.ts";
import type { RunOptions } from "./refund.ts";
import type { AcquireOptions, Decision, Lease, LimiterState, TryAcquireOptions } from "./types.ts";

/** Options of the module-level {@link configure}: how the default instance loads, watches and reports. */
export interface DefaultInstanceOptions extends NoticeOptions {
  /**
   * Watch the config file the default instance loaded and hot-reload on change (never keeping the process
   * alive). Ignored for a config given as an object or a RateSync.
   * @default true, unless the environment variable `RATE_SYNC_WATCH` is `0`, `false`, `off` or `no`
   */
  readonly watch?: boolean;
}

let instance: Promise<RateSync> | undefined;
/** The options of the last `configure()`: also used when the instance is loaded again after `close()`. */
let settings: DefaultInstanceOptions = {};

/** Whether the default instance watches its file: the option, else `RATE_SYNC_WATCH` (on unless turned off). */
function watchWanted(options: DefaultInstanceOptions): boolean {
  if (options.watch !== undefined) return options.watch;
  const env = process.env.RATE_SYNC_WATCH?.trim().toLowerCase();
  return !(env === "0" || env === "false" || env === "off" || env === "no");
}

function noticeOptions(options: DefaultInstanceOptions): NoticeOptions {
  return {
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.quiet === undefined ? {} : { quiet: options.quiet }),
  };
}

/** Loads a file (the search path when `path` is undefined) and watches it unless turned off. */
async function loadFile(path: string | undefined, options: DefaultInstanceOptions): Promise<RateSync> {
  const rs = await RateSync.fromFile(path, noticeOptions(options));
  // No file found (an empty instance): nothing to watch. A file created later needs `configure()`.
  if (rs.file !== undefined && watchWanted(options)) await rs.watch();
  return rs;
}

/** The default instance, loading it from the search path on first use. */
export function getRateSync(): Promise<RateSync> {
  instance ??= loadFile(undefined, settings).catch((error: unknown) => {
    // A failed load is not cached: fixing the file and calling again works.
    instance = undefined;
    throw error;
  });
  return instance;
}

/**
 * Replaces the default instance's config (the previous instance is closed): a file path, an object of the
 * TOML shape, or a RateSync built elsewhere; `undefined` loads the search path again (to change only options).
 * A file is watched unless `options.watch` is false or `RATE_SYNC_WATCH=0`.
 *
 * @example
 * ```ts
 * await configure("config/limits.toml", { watch: false, logger: pino() });
 * await configure(undefined, { quiet: true }); // the search path, without notices
 * ```
 */
export async function configure(
  config?: string | RateSync | Record<string, unknown>,
  options: DefaultInstanceOptions = {},
): Promise<RateSync> {
  const next =
    config instanceof RateSync
      ? config
      : typeof config === "string" || config === undefined
        ? await loadFile(config, options)
        : RateSync.fromConfig(config, noticeOptions(options));
  settings = options;
  const previous = instance;
  instance = Promise.resolve(next);
  if (previous) await (await previous.catch(() => undefined))?.close();
  return next;
}

/**
 * Closes the default instance: stops the watch, closes its stores' connections (after the calls in flight).
 * A later call loads it again. A script that calls it at the end exits right away; see README "Shutdown".
 *
 * @example
 * ```ts
 * process.once("SIGTERM", () => void server.close(() => void close()));
 * ```
 */
export async function close(): Promise<void> {
  const previous = instance;
  instance = undefined;
  if (previous) await (await previous.catch(() => undefined))?.close();
}

/** `tryAcquire` on the default instance. */
export async function tryAcquire(key: KeyInput, options?: TryAcquireOptions): Promise<Decision> {
  return (await getRateSync()).tryAcquire(key, options);
}

/** `acquire` on the default instance. */
export async function acquire(key: KeyInput, options?: AcquireOptions): Promise<Lease> {
  return (await getRateSync()).acquire(key, options);
}

/** `run` on the default instance. */
export async function run<T>(key: KeyInput, fn: () => T | Promise<T>, options?: RunOptions<T>): Promise<T> {
  return (await getRateSync()).run(key, fn, options);
}

/** `peek` on the default instance. */
export async function peek(key: string): Promise<LimiterState> {
  return (await getRateSync()).peek(key);
}

/** `reset` on the default instance. */
export async function reset(key: string): Promise<void> {
  return (await getRateSync()).reset(key);
}
