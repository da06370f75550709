// biome-ignore-all lint/suspicious/noTemplateCurlyInString: expected messages quote ${VAR} references
/**
 * One fixture per kind of bad config (test/fixtures/bad/), each with its full asserted message. Loaded through
 * `loadConfig` exactly as `rate-sync check` does, with the fixture directory as cwd so file names are short.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load-file.ts";
import { ConfigError, formatConfigIssue, isConfigError } from "../../src/errors.ts";

const cwd = fileURLToPath(new URL("../fixtures/bad/", import.meta.url));

async function issuesOf(file: string, env: Record<string, string> = {}): Promise<string[]> {
  const error = await loadConfig(file, { cwd, env }).then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ConfigError);
  if (!isConfigError(error)) throw new Error(`${file} loaded without an error`);
  expect(error.message).toContain(
    formatConfigIssue(error.issues[0] ?? { code: "file", file, path: "", keys: [], message: "" }),
  );
  return error.issues.map(formatConfigIssue);
}

const RATE_HINT =
  'expected a string such as "100/s", "10/min", "3/5min", "1000/day" (units: ms, millisecond, milliseconds, s, sec, second, seconds, m, min, minute, minutes, h, hour, hours, d, day, days)';
const DURATION_HINT = 'expected a number of seconds or a string such as "250ms", "30s", "5m", "1h", "1d"';

describe("bad config fixtures", () => {
  it.each<[string, string[], Record<string, string>?]>([
    [
      "syntax-error.toml",
      [
        'syntax-error.toml:2:8: invalid TOML: unterminated string starting at 2:8: close it with " on the same line (use """ for a string of several lines)',
      ],
    ],
    [
      "unterminated-string.toml",
      [
        'unterminated-string.toml:2:8: invalid TOML: unterminated string starting at 2:8: close it with " on the same line (use """ for a string of several lines)',
      ],
    ],
    [
      "misspelled-engine.toml",
      [
        'misspelled-engine.toml:2:1 stores.main.engin: unknown key "engin" in a store; did you mean "engine"? (expected "memory", "redis", "postgres" or "sqlite")',
      ],
    ],
    [
      "upper-case-units.toml",
      [
        'upper-case-units.toml:2:1 limiters.api.rate: invalid rate "10/Min": units are lower case; did you mean "10/min"?',
        'upper-case-units.toml:7:1 limiters.login.window: invalid duration "1M": units are lower case; did you mean "1m"? ("m" is minutes; there is no month unit)',
      ],
    ],
    [
      "unknown-key.toml",
      ['unknown-key.toml:3:1 limiters.api.brust: unknown key "brust" in a limiter; did you mean "burst"?'],
    ],
    [
      "misspelled-algorithm.toml",
      [
        'misspelled-algorithm.toml:2:1 limiters.login.algorithm: unknown algorithm "sliding_windw"; did you mean "sliding_window"? (expected "token_bucket", "gcra", "fixed_window", "sliding_window", "sliding_window_counter", "leaky_bucket" or "adaptive")',
      ],
    ],
    [
      "key-of-another-algorithm.toml",
      [
        'key-of-another-algorithm.toml:3:1 limiters.api.limit: "limit" does not apply to algorithm "token_bucket" (the default); it belongs to fixed_window, sliding_window, sliding_window_counter; set "algorithm" to use it',
        'key-of-another-algorithm.toml:9:1 limiters.login.rate: "rate" does not apply to algorithm "fixed_window"; it belongs to token_bucket, leaky_bucket',
      ],
    ],
    [
      "missing-required-key.toml",
      [
        'missing-required-key.toml:1:1 limiters.api: missing "rate" (or "rate_per_second"): a token_bucket limiter needs a rate',
        'missing-required-key.toml:5:1 limiters.login: missing "window" (or "window_seconds"): a sliding_window limiter needs "limit" and "window"',
        'missing-required-key.toml:9:1 limiters.nothing: a limiter needs "rate" (or "rate_per_second"), "limit" with "window" (and an algorithm), or "max_concurrent"',
      ],
    ],
    [
      "bad-numbers.toml",
      [
        "bad-numbers.toml:2:1 limiters.zero.rate_per_second: must be positive, got 0",
        "bad-numbers.toml:6:1 limiters.negative.limit: must be positive, got -5",
        "bad-numbers.toml:10:1 limiters.not_a_number.max_concurrent: expected a number, got NaN",
      ],
    ],
    ["bad-rate.toml", [`bad-rate.toml:2:1 limiters.api.rate: invalid rate "100 per second": ${RATE_HINT}`]],
    [
      "bad-duration.toml",
      [`bad-duration.toml:4:1 limiters.login.window: invalid duration "5 fortnights": ${DURATION_HINT}`],
    ],
    [
      "unknown-store.toml",
      ['unknown-store.toml:8:1 limiters.api.store: unknown store "redis"; known stores: main, db'],
    ],
    [
      "rate-and-rate-per-second.toml",
      [
        'rate-and-rate-per-second.toml:3:1 limiters.api.rate_per_second: set either "rate" or "rate_per_second", not both',
      ],
    ],
    [
      "unset-variable.toml",
      [
        "unset-variable.toml:3:1 stores.main.url: environment variable RATE_SYNC_TEST_UNSET_URL is not set (use ${RATE_SYNC_TEST_UNSET_URL:-default} to give a default)",
        "unset-variable.toml:6:1 limiters.api.rate: environment variable RATE_SYNC_TEST_UNSET_RATE is not set (use ${RATE_SYNC_TEST_UNSET_RATE:-default} to give a default)",
      ],
    ],
    [
      "required-variable.toml",
      [
        "required-variable.toml:3:1 stores.main.url: environment variable RATE_SYNC_TEST_DATABASE_URL is not set or empty: set it to the PostgreSQL URL of the limiter state",
      ],
      { RATE_SYNC_TEST_DATABASE_URL: "" },
    ],
    [
      "wrong-type-after-interpolation.toml",
      [
        'wrong-type-after-interpolation.toml:3:1 limiters.api.burst: expected a number, got "ten"',
        'wrong-type-after-interpolation.toml:4:1 limiters.api.shadow: expected true or false, got "yes"',
      ],
      { RATE_SYNC_TEST_BURST: "ten", RATE_SYNC_TEST_SHADOW: "yes" },
    ],
    [
      "fail-closed-contradiction.toml",
      [
        'fail-closed-contradiction.toml:3:1 limiters.api.fail_closed: fail_closed = true contradicts on_store_error = "allow"; keep only one of them',
      ],
    ],
    [
      "secret-in-url.toml",
      [
        'secret-in-url.toml:3:1 stores.main.url: expected a URL starting with "redis://" or "rediss://"',
        "secret-in-url.toml:4:1 stores.main.password: expected a string, got 42",
      ],
    ],
    [
      "several-errors.toml",
      [
        `several-errors.toml:2:1 defaults.timeout: invalid duration "soon": ${DURATION_HINT}`,
        'several-errors.toml:5:1 stores.main.engine: unknown engine "rdis"; did you mean "redis"? (expected "memory", "redis", "postgres" or "sqlite")',
        "several-errors.toml:9:1 limiters.api.burst: must be positive, got 0",
        'several-errors.toml:10:1 limiters.api.colour: unknown key "colour" in a limiter',
        'several-errors.toml:16:1 limiters.login.window_seconds: set either "window" or "window_seconds", not both',
      ],
    ],
  ])("%s", async (file, expected, env) => {
    expect(await issuesOf(file, env)).toEqual(expected);
  });

  it("lists every issue in the error message, one per line", async () => {
    const error = await loadConfig("several-errors.toml", { cwd, env: {} }).catch(
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(String((error as Error).message).split("\n")).toHaveLength(6);
  });

  it("never shows a URL password, even of a URL it rejects", async () => {
    const error = await loadConfig("secret-in-url.toml", { cwd, env: {} }).catch((reason: unknown) => reason);
    expect(String((error as Error).message)).not.toContain("hunter2");
  });
});
