/**
 * The documented range of every number in a config (README, "Ranges of numbers"; `src/config/bounds.ts`): each
 * bound is accepted exactly at itself and refused just outside it with a ConfigError that names the key (file,
 * line) and the bound. That the stores agree at each bound is checked in `test/stores/value-bounds.test.ts`.
 */

import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../src/config/load.ts";
import { ConfigError, isConfigError } from "../../src/errors.ts";
import { RateSync } from "../../src/index.ts";

const load = (text: string) => parseConfigText(text, { env: {}, file: "bounds.toml" });

function configErrorOf(text: string): ConfigError {
  try {
    load(text);
  } catch (error) {
    if (isConfigError(error)) return error;
    throw error;
  }
  throw new Error(`expected a ConfigError for:\n${text}`);
}

const REDIS = '[stores.r]\nengine = "redis"\nurl = "redis://127.0.0.1:6379"\n';
const POSTGRES = '[stores.p]\nengine = "postgres"\nurl = "postgres://u@h/db"\n';
const MEMORY = '[stores.m]\nengine = "memory"\n';
const window = (kind: string, rest: string) => `[limiters.x]\nalgorithm = "${kind}"\n${rest}\n`;
const bucket = (rest: string) => `[limiters.x]\n${rest}\n`;

/** A bound: the config at it (accepted), the config just past it (refused), where and how it is refused. */
interface Bound {
  readonly name: string;
  readonly at: string;
  readonly past: string;
  readonly path: string;
  readonly message: string;
}

const BOUNDS: readonly Bound[] = [
  // ------------------------------------------------------------------------------------------ limiter counts
  {
    name: "limit at most 10^12",
    at: window("fixed_window", 'window = "1h"\nlimit = 1000000000000'),
    past: window("fixed_window", 'window = "1h"\nlimit = 1000000000001'),
    path: "limiters.x.limit",
    message: "must be at most 1000000000000, got 1000000000001",
  },
  {
    name: "limit at least 1",
    at: window("fixed_window", 'window = "1h"\nlimit = 1'),
    past: window("fixed_window", 'window = "1h"\nlimit = 0'),
    path: "limiters.x.limit",
    message: "must be positive, got 0",
  },
  {
    name: "burst at most 10^12",
    at: bucket('rate = "1000000/s"\nburst = 1000000000000'),
    past: bucket('rate = "1000000/s"\nburst = 1000000000001'),
    path: "limiters.x.burst",
    message: "must be at most 1000000000000, got 1000000000001",
  },
  {
    name: "max_concurrent at most 10^12",
    at: "[limiters.x]\nmax_concurrent = 1000000000000\n",
    past: "[limiters.x]\nmax_concurrent = 1000000000001\n",
    path: "limiters.x.max_concurrent",
    message: "must be at most 1000000000000",
  },
  // ------------------------------------------------------------------------------------------- limiter times
  {
    name: "window at most 3650d",
    at: window("sliding_window_counter", 'window = "3650d"\nlimit = 5'),
    past: window("sliding_window_counter", 'window = "3651d"\nlimit = 5'),
    path: "limiters.x.window",
    message: 'must be at most 3650d (315360000000 ms), got "3651d"',
  },
  {
    name: "window at least 1ms",
    at: window("fixed_window", 'window = "1ms"\nlimit = 5'),
    past: window("fixed_window", 'window = "0.5ms"\nlimit = 5'),
    path: "limiters.x.window",
    message: 'must be at least 1ms, got "0.5ms"',
  },
  {
    name: "window (1e-300 s, the issue's value) at least 1ms",
    at: window("fixed_window", "window = 0.001\nlimit = 5"),
    past: window("fixed_window", "window = 1e-300\nlimit = 5"),
    path: "limiters.x.window",
    message: "must be at least 1ms, got 1e-300",
  },
  {
    name: "window_seconds at most 315360000 (3650 days)",
    at: window("fixed_window", "window_seconds = 315360000\nlimit = 5"),
    past: window("fixed_window", "window_seconds = 1e15\nlimit = 5"),
    path: "limiters.x.window_seconds",
    message: "must be at most 315360000, got 1000000000000000",
  },
  {
    name: "window_seconds at least 0.001",
    at: window("fixed_window", "window_seconds = 0.001\nlimit = 5"),
    past: window("fixed_window", "window_seconds = 0.0009\nlimit = 5"),
    path: "limiters.x.window_seconds",
    message: "must be at least 0.001, got 0.0009",
  },
  {
    name: "lease at most 3650d (1e15 s, the issue's value, refused)",
    at: '[limiters.x]\nmax_concurrent = 2\nlease = "3650d"\n',
    past: "[limiters.x]\nmax_concurrent = 2\nlease = 1e15\n",
    path: "limiters.x.lease",
    message: "must be at most 3650d (315360000000 ms), got 1000000000000000",
  },
  {
    name: "lease at least 1ms",
    at: '[limiters.x]\nmax_concurrent = 2\nlease = "1ms"\n',
    past: '[limiters.x]\nmax_concurrent = 2\nlease = "0.9ms"\n',
    path: "limiters.x.lease",
    message: 'must be at least 1ms, got "0.9ms"',
  },
  {
    name: "limiter timeout at most 3650d",
    at: bucket('rate = "1/s"\ntimeout = "3650d"'),
    past: bucket('rate = "1/s"\ntimeout = "3651d"'),
    path: "limiters.x.timeout",
    message: "must be at most 3650d",
  },
  // ------------------------------------------------------------------------------------------------- rates
  {
    name: "rate at most 1000000/s",
    at: bucket('rate = "1000000/s"'),
    past: bucket('rate = "1000001/s"'),
    path: "limiters.x.rate",
    message: 'must be at most 1000000/s, got "1000001/s"',
  },
  {
    name: "rate count at most 10^12",
    at: bucket('rate = "1000000000000/1000000s"'),
    past: bucket('rate = "1000000000001/1000000s"'),
    path: "limiters.x.rate",
    message: "the count must be at most 1000000000000",
  },
  {
    name: "rate period at most 3650d",
    at: bucket('rate = "1/3650d"'),
    past: bucket('rate = "1/3651d"'),
    path: "limiters.x.rate",
    message: 'the period must be at most 3650d, got "1/3651d"',
  },
  {
    name: "rate (1e-320/s, the issue's value) refused",
    at: bucket('rate = "1/3650d"'),
    past: bucket('rate = "1e-320/s"'),
    path: "limiters.x.rate",
    message: "invalid rate",
  },
  {
    name: "a rate slower than 1/3650d is refused (its bucket would take longer to refill)",
    at: bucket('rate = "1/3650d"'),
    past: bucket('rate = "0.000000001/s"'),
    path: "limiters.x.rate",
    message: "burst / rate must be at most 3650d",
  },
  {
    name: "rate_per_second = 1e-320 (the issue's rate) is refused: its bucket would never refill",
    at: bucket("rate_per_second = 0.5"),
    past: bucket("rate_per_second = 1e-320"),
    path: "limiters.x.rate_per_second",
    message: "the bucket takes forever to refill",
  },
  {
    name: "rate_per_second at most 1000000",
    at: bucket("rate_per_second = 1000000"),
    past: bucket("rate_per_second = 1000000.5"),
    path: "limiters.x.rate_per_second",
    message: "must be at most 1000000, got 1000000.5",
  },
  {
    name: "a bucket refills within 3650d (burst / rate), reported on burst",
    at: bucket('rate = "1/s"\nburst = 315360000'),
    past: bucket('rate = "1/s"\nburst = 315360001'),
    path: "limiters.x.burst",
    message: "burst / rate must be at most 3650d",
  },
  {
    name: "a bucket refills within 3650d, the issue's burst = 1e308 refused",
    at: bucket('rate = "1000000/s"\nburst = 1000000000000'),
    past: bucket('rate = "10/s"\nburst = 1e308'),
    path: "limiters.x.burst",
    message: "must be at most 1000000000000",
  },
  {
    name: "a bucket refills within 3650d, reported on rate_per_second when burst is the default",
    at: bucket("rate_per_second = 3.1709791983764586e-9"),
    past: bucket("rate_per_second = 3e-9"),
    path: "limiters.x.rate_per_second",
    message: "burst / rate must be at most 3650d",
  },
  {
    name: "a leaky bucket refills within 3650d too",
    at: bucket('algorithm = "leaky_bucket"\nrate = "1/day"\nburst = 3650'),
    past: bucket('algorithm = "leaky_bucket"\nrate = "1/day"\nburst = 3651'),
    path: "limiters.x.burst",
    message: "the bucket takes 3651 days to refill",
  },
  // ---------------------------------------------------------------------------------------------- defaults
  {
    name: "defaults.timeout at most 3650d",
    at: '[defaults]\ntimeout = "3650d"\n',
    past: '[defaults]\ntimeout = "3651d"\n',
    path: "defaults.timeout",
    message: "must be at most 3650d",
  },
  {
    name: "max_clones at most 10,000,000",
    at: "[defaults]\nmax_clones = 10000000\n",
    past: "[defaults]\nmax_clones = 10000001\n",
    path: "defaults.max_clones",
    message: "must be at most 10000000",
  },
  // ------------------------------------------------------------------------------------------------ stores
  {
    name: "max_keys at most 10,000,000",
    at: `${MEMORY}max_keys = 10000000\n`,
    past: `${MEMORY}max_keys = 10000001\n`,
    path: "stores.m.max_keys",
    message: "must be at most 10000000",
  },
  {
    name: "store timeout at most 1d (the issue's 30d refused)",
    at: `${REDIS}timeout = "1d"\n`,
    past: `${REDIS}timeout = "30d"\n`,
    path: "stores.r.timeout",
    message: 'must be at most 1d (86400000 ms), got "30d"',
  },
  {
    name: "store timeout at most 1d (PostgreSQL)",
    at: `${POSTGRES}timeout = "24h"\n`,
    past: `${POSTGRES}timeout = "86401s"\n`,
    path: "stores.p.timeout",
    message: "must be at most 1d",
  },
  {
    name: "store timeout at least 1ms",
    at: `${POSTGRES}timeout = "1ms"\n`,
    past: `${POSTGRES}timeout = "0.5ms"\n`,
    path: "stores.p.timeout",
    message: "must be at least 1ms",
  },
  {
    name: "socket_timeout at most 86400 s (the issue's 2592000 refused)",
    at: `${REDIS}socket_timeout = 86400\n`,
    past: `${REDIS}socket_timeout = 2592000\n`,
    path: "stores.r.socket_timeout",
    message: "must be at most 86400, got 2592000",
  },
  {
    name: "socket_timeout at least 0.001 s",
    at: `${POSTGRES}socket_timeout = 0.001\n`,
    past: `${POSTGRES}socket_timeout = 0.0001\n`,
    path: "stores.p.socket_timeout",
    message: "must be at least 0.001",
  },
  {
    name: "socket_connect_timeout at most 86400 s",
    at: `${POSTGRES}socket_connect_timeout = 86400\n`,
    past: `${POSTGRES}socket_connect_timeout = 86400.5\n`,
    path: "stores.p.socket_connect_timeout",
    message: "must be at most 86400",
  },
  {
    name: "pool_max_size at most 1000",
    at: `${REDIS}pool_max_size = 1000\n`,
    past: `${REDIS}pool_max_size = 1001\n`,
    path: "stores.r.pool_max_size",
    message: "must be at most 1000",
  },
  {
    name: "pool_min_size at most 1000",
    at: `${POSTGRES}pool_max_size = 1000\npool_min_size = 1000\n`,
    past: `${POSTGRES}pool_max_size = 1000\npool_min_size = 1001\n`,
    path: "stores.p.pool_min_size",
    message: "must be at most 1000",
  },
  {
    name: "db at most 2147483647",
    at: `${REDIS}db = 2147483647\n`,
    past: `${REDIS}db = 2147483648\n`,
    path: "stores.r.db",
    message: "must be at most 2147483647",
  },
];

describe("every number of a config has a documented range", () => {
  for (const bound of BOUNDS) {
    it(`${bound.name}: accepted at the bound, refused just past it naming ${bound.path}`, () => {
      expect(() => load(bound.at)).not.toThrow();
      const error = configErrorOf(bound.past);
      const issue = error.issues.find((i) => i.path === bound.path);
      expect(issue, `${error.message}`).toBeDefined();
      expect(issue?.message).toContain(bound.message);
      // Located in the file: the message leads with file:line.
      expect(issue?.file).toBe("bounds.toml");
      expect(issue?.line).toBeGreaterThan(0);
    });
  }

  it("the values accepted at the bounds reach the limiters unchanged", () => {
    const snapshot = load(
      `${window("fixed_window", 'window = "3650d"\nlimit = 1000000000000')}` +
        `[limiters.tb]\nrate = "1000000/s"\nburst = 1000000000000\n` +
        `[limiters.cc]\nmax_concurrent = 1000000000000\nlease = "3650d"\ntimeout = "3650d"\n`,
    );
    expect(snapshot.limiters.get("x")?.rate).toEqual({
      kind: "fixed_window",
      limit: 1e12,
      windowMs: 315_360_000_000,
    });
    expect(snapshot.limiters.get("tb")?.rate).toEqual({
      kind: "token_bucket",
      intervalMs: 0.001,
      burst: 1e12,
    });
    expect(snapshot.limiters.get("cc")?.concurrency).toEqual({
      kind: "concurrency",
      maxConcurrent: 1e12,
      leaseMs: 315_360_000_000,
    });
    expect(snapshot.limiters.get("cc")?.timeoutMs).toBe(315_360_000_000);
  });
});

describe("template ids", () => {
  it.each(["a:<>", "<>", "api:<tenant>:<>"])("%s (an empty placeholder) is refused naming the id", (id) => {
    const error = configErrorOf(`[limiters."${id}"]\nrate = "1/s"\n`);
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]?.path).toBe(`limiters.${JSON.stringify(id)}`);
    expect(error.issues[0]?.message).toContain('empty placeholder "<>"');
  });

  it("an empty placeholder is refused in code too (fromConfig, configure)", async () => {
    expect(() => RateSync.fromConfig({ limiters: { "a:<>": { rate: "1/s" } } })).toThrow(
      'limiters."a:<>": empty placeholder "<>"',
    );
    const rs = RateSync.fromConfig({ limiters: {} });
    try {
      expect(() => rs.configure("a:<>", { rate: "1/s" })).toThrow(ConfigError);
      expect(rs.limiterIds()).toEqual([]);
    } finally {
      await rs.close();
    }
  });

  it("named placeholders and ids without placeholders are still fine", () => {
    const snapshot = load('[limiters."a:<x>"]\nrate = "1/s"\n[limiters."a:b"]\nrate = "1/s"\n');
    expect(snapshot.limiters.get("a:<x>")?.isTemplate).toBe(true);
    expect(snapshot.limiters.get("a:b")?.isTemplate).toBe(false);
  });
});
