/**
 * @module
 * The config loader (SPEC §2.1): read → parse TOML (smol-toml) → interpolate env → validate (zod, strict) →
 * normalize → freeze. Either the whole input is valid and a snapshot comes out, or a `ConfigError` lists
 * every issue with `file:line:col path: message`. Nothing is half-applied.
 */

import { statSync } from "node:fs";
import { isAbsolute, relative, resolve } from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import { ConfigError, type ConfigIssue } from "../errors.ts";
import { buildSnapshot, limiterNormalizer } from "./build-snapshot.ts";
import { deepFreeze } from "./freeze.ts";
import { interpolateDocumentSteps } from "./interpolate.ts";
import { fileIssue, formatPath, MAX_LISTED_ISSUES, MAX_NESTING, type PathIssue } from "./issues.ts";
import { createLocator, findOverlongKeySteps, type Locator } from "./locate.ts";
import { normalizeLimiter } from "./normalize.ts";
import { runSync, type Steps } from "./steps.ts";
import { describeTomlError, type TomlErrorLike } from "./toml-error.ts";
import type { ConfigSnapshot, DefaultsConfig, LimiterConfig, StoreConfig } from "./types.ts";
import { validateDocument, validateDocumentSteps, validateLimiterTable } from "./validate.ts";

/** Options of every loader function. */
export interface LoadOptions {
  /** Environment for `${VAR}` interpolation and `RATE_SYNC_CONFIG`. @default process.env */
  env?: Record<string, string | undefined>;
  /** Directory the search path and relative paths start from. @default process.cwd() */
  cwd?: string;
}

/** File name used in issues of config given in code. */
export const CODE_CONFIG_FILE = "<config>";

/**
 * The largest config file (or TOML text) accepted, in bytes: 16 MiB, room for about 400,000 short limiter
 * tables. Larger input is refused with a ConfigError before it is parsed, so a wrong file (a log, a dump)
 * cannot tie up the process.
 */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

/** The issue of input over {@link MAX_CONFIG_BYTES}. */
export function tooLargeIssue(file: string, bytes: number): ConfigIssue {
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return fileIssue(
    file,
    `the config is ${mib(bytes)} (${bytes} bytes); at most ${mib(MAX_CONFIG_BYTES)} (${MAX_CONFIG_BYTES} bytes) is accepted`,
  );
}

/** Where `loadConfig()` looks when no path is given, after `RATE_SYNC_CONFIG`. */
export const CONFIG_SEARCH_PATH: readonly string[] = ["rate-sync.toml", "config/rate-sync.toml"];

export { MAX_LISTED_ISSUES };

/**
 * Positions, file order and the bound on the list.
 * @param unchecked - limiter tables left unchecked once enough issues were found (see `validateDocument`).
 */
function toConfigIssues(
  issues: readonly PathIssue[],
  file: string,
  locate?: Locator,
  unchecked = 0,
): ConfigIssue[] {
  const located = issues.map((issue): ConfigIssue => {
    const position = locate?.(issue.path);
    return {
      code: issue.code,
      file,
      path: formatPath(issue.path),
      keys: issue.path,
      ...(position === undefined ? {} : { line: position.line, column: position.column }),
      message: issue.message,
    };
  });
  // File order, so a user can fix top to bottom; issues without a position keep their order at the end.
  const sorted = located
    .map((issue, index) => ({ issue, index }))
    .sort(
      (a, b) =>
        (a.issue.line ?? Number.POSITIVE_INFINITY) - (b.issue.line ?? Number.POSITIVE_INFINITY) ||
        (a.issue.column ?? 0) - (b.issue.column ?? 0) ||
        a.index - b.index,
    )
    .map(({ issue }) => issue);
  const more = Math.max(0, sorted.length - MAX_LISTED_ISSUES);
  if (more === 0 && unchecked === 0) return sorted;
  const count = (n: number, what: string) => `${n.toLocaleString("en-US")} ${what}${n === 1 ? "" : "s"}`;
  const parts = [
    ...(more > 0 ? [`${count(more, "more issue")}`] : []),
    ...(unchecked > 0 ? [`${count(unchecked, "more limiter table")} not checked`] : []),
  ];
  return [...sorted.slice(0, MAX_LISTED_ISSUES), fileIssue(file, `… and ${parts.join(", ")}`, "more_issues")];
}

/**
 * `issues` without those at or under a path in `failed` (a set of paths, so a file with thousands of failed
 * `${…}` values and thousands of validation issues is not compared pairwise).
 */
function withoutRepeats(issues: readonly PathIssue[], failed: readonly PathIssue[]): PathIssue[] {
  if (failed.length === 0) return [...issues];
  const failedPaths = new Set(failed.map((issue) => JSON.stringify(issue.path)));
  return issues.filter((issue) => {
    for (let length = 0; length <= issue.path.length; length++) {
      if (failedPaths.has(JSON.stringify(issue.path.slice(0, length)))) return false;
    }
    return true;
  });
}

/**
 * Parses, interpolates, validates and normalizes TOML text.
 *
 * @param options.file - Shown in issues and kept as `snapshot.file`. @default "<config>" (and no `file`)
 * @throws {ConfigError} listing every issue at once.
 * @example
 * const snapshot = parseConfigText('[limiters.api]\nrate = "100/s"\n', { env: { } });
 * snapshot.limiters.get("api")?.rate; // { kind: "token_bucket", intervalMs: 10, burst: 100 }
 */
export function parseConfigText(text: string, options: LoadOptions & { file?: string } = {}): ConfigSnapshot {
  const file = options.file ?? CODE_CONFIG_FILE;
  checkText(text, file);
  let document: unknown;
  try {
    document = parseToml(text);
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    throw tomlConfigError(error, text, file);
  }
  return runSync(snapshotSteps(text, document, options));
}

/**
 * The checks made on TOML text before it is parsed: its size and the depth of its keys.
 * @throws {ConfigError}
 */
export function checkText(text: string, file: string): void {
  runSync(checkTextSteps(text, file));
}

/** {@link checkText} as steps. @throws {ConfigError} (from the generator) */
export function* checkTextSteps(text: string, file: string): Steps<void> {
  // A UTF-8 byte is at most one UTF-16 unit: only text that may be over the bound needs to be measured.
  if (text.length > MAX_CONFIG_BYTES / 3 && Buffer.byteLength(text) > MAX_CONFIG_BYTES) {
    throw new ConfigError([tooLargeIssue(file, Buffer.byteLength(text))]);
  }
  const overlong = yield* findOverlongKeySteps(text, MAX_NESTING);
  if (overlong !== undefined) {
    throw new ConfigError([
      {
        ...fileIssue(file, "", "too_deep"),
        ...overlong,
        message: `a key or table header of more than ${MAX_NESTING} dotted parts; a rate-sync config needs at most a few`,
      },
    ]);
  }
}

/** The ConfigError of a TOML syntax error (thrown by smol-toml here, or reported by a parse thread). */
export function tomlConfigError(error: TomlErrorLike, text: string, file: string): ConfigError {
  const problem = describeTomlError(error, text);
  return new ConfigError([
    {
      ...fileIssue(file, "", "toml_syntax"),
      line: problem.line,
      column: problem.column,
      message: `invalid TOML: ${problem.message}`,
    },
  ]);
}

/**
 * The steps from a parsed TOML document (of `text`) to a snapshot: interpolate, validate, normalize.
 * @throws {ConfigError} (from the generator) listing every issue at once.
 */
export function* snapshotSteps(
  text: string,
  document: unknown,
  options: LoadOptions & { file?: string },
): Steps<ConfigSnapshot> {
  const file = options.file ?? CODE_CONFIG_FILE;
  const interpolated = yield* interpolateDocumentSteps(document, options.env ?? process.env);
  const normalizer = limiterNormalizer();
  const validated = yield* validateDocumentSteps(interpolated.value, normalizer.finish);
  // A value whose interpolation failed was left as written; its validation issue would only repeat the first.
  const issues = [...interpolated.issues, ...withoutRepeats(validated.issues, interpolated.issues)];
  if (issues.length > 0 || validated.value === undefined) {
    const locator = createLocator(text);
    const locate = (path: readonly string[]) => locator(interpolated.sourcePath(path));
    throw new ConfigError(toConfigIssues(issues, file, locate, validated.unchecked));
  }
  return yield* buildSnapshot(validated.value, options.file, normalizer);
}

/**
 * Validates and normalizes an object of the TOML shape (`{ defaults?, stores?, limiters? }`), as given to
 * `RateSync.fromConfig`. No environment interpolation: values are taken as they are.
 *
 * @param options.file - Shown in issues. @default "<config>"
 * @throws {ConfigError} listing every issue at once.
 * @example
 * parseConfigObject({ limiters: { login: { algorithm: "sliding_window", limit: 5, window: "5m" } } });
 */
export function parseConfigObject(input: unknown, options: { file?: string } = {}): ConfigSnapshot {
  const validated = validateDocument(input);
  if (validated.value === undefined) {
    throw new ConfigError(
      toConfigIssues(validated.issues, options.file ?? CODE_CONFIG_FILE, undefined, validated.unchecked),
    );
  }
  return runSync(buildSnapshot(validated.value, undefined));
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * The config file `loadConfig()` would read when given no path: `RATE_SYNC_CONFIG` (returned even when it
 * does not exist, so that loading it reports the mistake), else `./rate-sync.toml`, else
 * `./config/rate-sync.toml`; `undefined` when none exists. Returns an absolute path.
 */
export function findConfigFile(options: LoadOptions = {}): string | undefined {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const fromEnv = env.RATE_SYNC_CONFIG;
  if (fromEnv !== undefined && fromEnv !== "") return resolve(cwd, fromEnv);
  for (const candidate of CONFIG_SEARCH_PATH) {
    const path = resolve(cwd, candidate);
    if (isFile(path)) return path;
  }
  return undefined;
}

/**
 * Says where {@link findConfigFile} looked, for when it found nothing: one sentence naming `RATE_SYNC_CONFIG`
 * and each absolute path tried, so "no limiter matches" can say why the instance is empty.
 *
 * @example describeConfigSearch({ cwd: "/app" })
 * // 'no config file was found (RATE_SYNC_CONFIG is not set; looked for /app/rate-sync.toml, /app/config/rate-sync.toml)'
 */
export function describeConfigSearch(options: LoadOptions = {}): string {
  const cwd = options.cwd ?? process.cwd();
  const looked = CONFIG_SEARCH_PATH.map((candidate) => resolve(cwd, candidate)).join(", ");
  return `no config file was found (RATE_SYNC_CONFIG is not set; looked for ${looked})`;
}

/** How a file is named in issues: relative to `cwd` when inside it, else absolute. */
export function displayName(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}

/**
 * Parses the text read from the config file at `path` (made absolute against `cwd`): issues name the file as
 * `loadConfig` does, and the snapshot keeps the absolute path. For a reload that has read the file itself.
 * @throws {ConfigError}
 */
export function parseConfigFileText(text: string, path: string, options: LoadOptions = {}): ConfigSnapshot {
  const cwd = options.cwd ?? process.cwd();
  const absolute = resolve(cwd, path);
  const snapshot = parseConfigText(text, { ...options, file: displayName(absolute, cwd) });
  return Object.freeze({ ...snapshot, file: absolute });
}

/**
 * Validates and normalizes ONE limiter definition against an existing snapshot's defaults and stores (for
 * `DynamicConfig.update`, `rs.configure`, `rs.clone`). No env interpolation.
 *
 * @throws {ConfigError} whose issues use paths `limiters.<id>.<key>`.
 * @example
 * normalizeLimiterDefinition("api", { rate: "50/s" }, { defaults: snapshot.defaults, stores: snapshot.stores });
 */
export function normalizeLimiterDefinition(
  id: string,
  definition: unknown,
  context: { defaults: DefaultsConfig; stores: ReadonlyMap<string, StoreConfig>; file?: string },
): LimiterConfig {
  const storeIds = [...context.stores.keys()];
  const path = ["limiters", id];
  const result = validateLimiterTable(path, definition, { storeIds, defaultStore: context.defaults.store });
  if (result.value === undefined) {
    throw new ConfigError(toConfigIssues(result.issues, context.file ?? CODE_CONFIG_FILE));
  }
  return deepFreeze(normalizeLimiter(id, result.value.parsed!, { defaults: context.defaults, storeIds }));
}
