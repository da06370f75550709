/**
 * @module
 * The zod schemas of the config file (SPEC §2): `[defaults]`, `[stores.<id>]` per engine and
 * `[limiters.<id>]`. Every object is strict (unknown keys are errors).
 *
 * Each field validates what remains after environment interpolation: a number field takes a number or a
 * string that is exactly a number (`"42"`), a boolean field takes `true`/`false` or `"true"`/`"false"`, and
 * nothing else is guessed. Each field also carries the JSON Schema of how a user writes it in TOML, which
 * {@link configJsonSchema} emits (numbers as numbers, durations as a string or a number of seconds, …).
 *
 * Rules that span several keys (a key of another algorithm, a missing rate, unknown stores) live in
 * `validate.ts`, which runs these schemas one table at a time.
 */

import { z } from "zod";
import { ALGORITHM_NAMES, type AlgorithmName } from "../algorithms/registry.ts";
import { type ConfigIssueCode, InvalidArgumentError } from "../errors.ts";
import { DEFAULT_DENY_STATUS, type DenyStatus, parseEntry } from "../lists/key-lists.ts";
import {
  MAX_BLOCK_MS,
  MAX_BLOCK_STEPS,
  MAX_BLOCK_TEXT,
  MAX_COUNT,
  MAX_DURATION_MS,
  MAX_DURATION_TEXT,
  MAX_ENTRIES,
  MAX_LIMITS,
  MAX_POOL_SIZE,
  MAX_RATE_PER_SECOND,
  MAX_REDIS_DB,
  MAX_STORE_TIMEOUT_MS,
  MAX_STORE_TIMEOUT_TEXT,
  MIN_INTERVAL_MS,
  MIN_STORE_TIMEOUT_MS,
  MIN_WINDOW_MS,
} from "./bounds.ts";
import { quoteList } from "./issues.ts";
import { didYouMean } from "./suggest.ts";
import {
  DURATION_PATTERN,
  type ParsedRate,
  parseDuration,
  parseNumberText,
  parseRate,
  RATE_PATTERN,
  rateIntervalMs,
} from "./units.ts";

/**
 * Algorithm names accepted in `algorithm`: every registered algorithm and its aliases (`gcra` is an alias of
 * `token_bucket`).
 */
export { ALGORITHM_NAMES, type AlgorithmName };

/** Store engines accepted in `engine`. */
export const ENGINE_NAMES = ["memory", "redis", "postgres", "sqlite"] as const;
/** Values of `on_store_error`. */
export const ON_STORE_ERROR_VALUES = ["allow", "deny", "local"] as const;

// The JSON Schema of each field as written in TOML, keyed by the field's zod schema (see `configJsonSchema`).
const jsonForms = new WeakMap<object, Record<string, unknown>>();
// The check of each field, keyed by the field's zod schema (see `fieldCheckOf`).
const fieldChecks = new WeakMap<object, Check<unknown>>();

/** A value written as `${VAR}` that the loader resolves: editors must accept it wherever a number is expected. */
const ENV_REFERENCE_JSON = {
  type: "string",
  pattern: String.raw`\$\{`,
  description: "A reference to an environment variable, resolved at load time",
};

/** A field's check: the converted value, or what is wrong with the input (a code and a message). */
export type Check<T> = (
  input: unknown,
) => { ok: true; value: T } | { ok: false; code: ConfigIssueCode; message: string };

/**
 * The check behind a field made by this module (also through `.optional()`), for code that validates a
 * table without zod's object machinery and asks zod only when something is wrong (see `fast-limiters.ts`).
 * `undefined` for any other schema.
 */
export function fieldCheckOf(schema: z.core.$ZodType): Check<unknown> | undefined {
  let inner: z.core.$ZodType = schema;
  while (inner instanceof z.ZodOptional) inner = inner.unwrap();
  return fieldChecks.get(inner);
}

/**
 * The {@link ConfigIssueCode} of a zod issue raised by a field's check, carried in the issue's `params` (zod's
 * own codes say little here: every field is a `custom` transform).
 */
export function issueCodeOf(issue: z.core.$ZodIssue): ConfigIssueCode | undefined {
  if (issue.code !== "custom") return undefined;
  const code: unknown = issue.params?.[ISSUE_CODE_PARAM];
  return typeof code === "string" ? (code as ConfigIssueCode) : undefined;
}

const ISSUE_CODE_PARAM = "configIssueCode";

/** A field: a transform that checks and converts the input, and the JSON Schema of how it is written. */
function field<T>(check: Check<T>, json: Record<string, unknown>): z.ZodType<T, unknown> {
  const schema = z.unknown().transform((input, ctx): T => {
    const result = check(input);
    if (result.ok) return result.value;
    ctx.addIssue({ code: "custom", message: result.message, params: { [ISSUE_CODE_PARAM]: result.code } });
    return z.NEVER;
  });
  jsonForms.set(schema, json);
  fieldChecks.set(schema, check);
  return schema;
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return "an array";
  if (value === null || value === undefined) return String(value);
  if (typeof value === "object") return value instanceof Date ? "a date" : "a table";
  return String(value);
}

interface NumberOptions {
  /** The smallest value: `"positive"` (above 0), `"nonnegative"` (0 or more) or a number (inclusive). */
  readonly min: "positive" | "nonnegative" | number;
  /** The largest value (inclusive); see `bounds.ts` for why each key has the one it has. */
  readonly max: number;
  readonly integer: boolean;
  readonly description: string;
}

function numberField(options: NumberOptions): z.ZodType<number, unknown> {
  const { min, max } = options;
  const json = {
    type: options.integer ? "integer" : "number",
    ...(min === "positive" ? { exclusiveMinimum: 0 } : { minimum: min === "nonnegative" ? 0 : min }),
    maximum: max,
  };
  return field<number>(
    (input) => {
      const value =
        typeof input === "string" ? parseNumberText(input) : typeof input === "number" ? input : undefined;
      if (value === undefined)
        return { ok: false, code: "invalid_type", message: `expected a number, got ${describe(input)}` };
      if (Number.isNaN(value))
        return { ok: false, code: "invalid_value", message: "expected a number, got NaN" };
      if (!Number.isFinite(value))
        return {
          ok: false,
          code: "invalid_value",
          message: `expected a finite number, got ${describe(input)}`,
        };
      if ((min === "positive" || (typeof min === "number" && min > 0)) && value <= 0) {
        return { ok: false, code: "out_of_range", message: `must be positive, got ${describe(input)}` };
      }
      if (value < 0)
        return { ok: false, code: "out_of_range", message: `must not be negative, got ${describe(input)}` };
      if (value > max)
        return { ok: false, code: "out_of_range", message: `must be at most ${max}, got ${describe(input)}` };
      if (options.integer && !Number.isInteger(value)) {
        return {
          ok: false,
          code: "invalid_value",
          message: `must be a whole number, got ${describe(input)}`,
        };
      }
      if (typeof min === "number" && value < min) {
        return {
          ok: false,
          code: "out_of_range",
          message: `must be at least ${min}, got ${describe(input)}`,
        };
      }
      return { ok: true, value };
    },
    { description: options.description, anyOf: [json, ENV_REFERENCE_JSON] },
  );
}

function booleanField(description: string): z.ZodType<boolean, unknown> {
  return field<boolean>(
    (input) => {
      if (typeof input === "boolean") return { ok: true, value: input };
      if (input === "true" || input === "false") return { ok: true, value: input === "true" };
      return { ok: false, code: "invalid_type", message: `expected true or false, got ${describe(input)}` };
    },
    { description, anyOf: [{ type: "boolean" }, ENV_REFERENCE_JSON] },
  );
}

function stringField(description: string, maxLength?: number): z.ZodType<string, unknown> {
  return field<string>(
    (input) => {
      if (typeof input !== "string")
        return { ok: false, code: "invalid_type", message: `expected a string, got ${describe(input)}` };
      if (input === "") return { ok: false, code: "invalid_value", message: "must not be empty" };
      if (maxLength !== undefined && Buffer.byteLength(input) > maxLength) {
        return { ok: false, code: "out_of_range", message: `must be at most ${maxLength} bytes long` };
      }
      return { ok: true, value: input };
    },
    { type: "string", minLength: 1, ...(maxLength === undefined ? {} : { maxLength }), description },
  );
}

function enumField<const T extends string>(
  values: readonly T[],
  label: string,
  description: string,
): z.ZodType<T, unknown> {
  return field<T>(
    (input) => {
      const found = values.find((value) => value === input);
      if (found !== undefined) return { ok: true, value: found };
      if (typeof input !== "string")
        return { ok: false, code: "invalid_type", message: `expected a string, got ${describe(input)}` };
      return {
        ok: false,
        code: "invalid_value",
        message: `unknown ${label} ${JSON.stringify(input)}${didYouMean(input, values)} (expected ${quoteList(values)})`,
      };
    },
    { type: "string", enum: [...values], description },
  );
}

/** The range of a duration field, in ms: `min` 0 allows zero (timeouts, where `0` means "decide at once"). */
interface DurationRange {
  readonly min: number;
  readonly max: number;
  /** `max` as the README and the error messages write it (`"3650d"`). */
  readonly maxText: string;
}

/** The check of a duration in milliseconds within `range` (the duration fields' and the duration lists'). */
function durationCheck(range: DurationRange): Check<number> {
  return (input) => {
    if (typeof input !== "string" && typeof input !== "number") {
      return {
        ok: false,
        code: "invalid_type",
        message: `expected a duration such as "30s" or a number of seconds, got ${describe(input)}`,
      };
    }
    let ms: number;
    try {
      ms = parseDuration(input);
    } catch (error) {
      if (error instanceof InvalidArgumentError)
        return { ok: false, code: "invalid_value", message: error.message };
      throw error;
    }
    if (range.min > 0 && ms === 0)
      return { ok: false, code: "out_of_range", message: `must be positive, got ${describe(input)}` };
    if (ms < range.min) {
      return {
        ok: false,
        code: "out_of_range",
        message: `must be at least ${range.min}ms, got ${describe(input)}`,
      };
    }
    if (ms > range.max) {
      return {
        ok: false,
        code: "out_of_range",
        message: `must be at most ${range.maxText} (${range.max} ms), got ${describe(input)}`,
      };
    }
    return { ok: true, value: ms };
  };
}

/** The JSON Schema of a duration within `range`, as written. */
function durationJson(range: DurationRange): Record<string, unknown>[] {
  return [
    { type: "string", pattern: DURATION_PATTERN },
    { type: "number", minimum: range.min / 1000, maximum: range.max / 1000 },
    ENV_REFERENCE_JSON,
  ];
}

/** A duration in milliseconds, within `range`. */
function durationField(description: string, range: DurationRange): z.ZodType<number, unknown> {
  return field<number>(durationCheck(range), {
    description: `${description} A duration such as "250ms", "30s", "5m", "1h", "1d", or a number of seconds; at most ${range.maxText}.`,
    anyOf: durationJson(range),
  });
}

/** `block_escalation` as a factor with a cap: each block `factor` times the previous, from `block` up to `max`. */
export interface BlockGrowth {
  readonly factor: number;
  readonly maxMs: number;
}

/** The largest `factor` of `block_escalation = { factor, max }`. */
const MAX_BLOCK_FACTOR = 1000;

/** `{ factor, max }`: a factor above 1 and a cap within `range`. */
function blockGrowthCheck(
  input: Record<string, unknown>,
  range: DurationRange,
): ReturnType<Check<BlockGrowth>> {
  for (const key of Object.keys(input)) {
    if (key !== "factor" && key !== "max")
      return {
        ok: false,
        code: "unknown_key",
        message: `unknown key ${JSON.stringify(key)} (a growing block takes factor and max)`,
      };
  }
  if (input.factor === undefined || input.max === undefined)
    return { ok: false, code: "missing_key", message: "a growing block needs both factor and max" };
  const factor =
    typeof input.factor === "string"
      ? parseNumberText(input.factor)
      : typeof input.factor === "number"
        ? input.factor
        : undefined;
  if (factor === undefined || !Number.isFinite(factor))
    return {
      ok: false,
      code: "invalid_type",
      message: `factor: expected a number, got ${describe(input.factor)}`,
    };
  if (!(factor > 1) || factor > MAX_BLOCK_FACTOR)
    return {
      ok: false,
      code: "out_of_range",
      message: `factor: must be above 1 and at most ${MAX_BLOCK_FACTOR}, got ${describe(input.factor)}`,
    };
  const max = durationCheck(range)(input.max);
  if (!max.ok) return { ...max, message: `max: ${max.message}` };
  return { ok: true, value: Object.freeze({ factor, maxMs: max.value }) };
}

/**
 * A list of 1 to `maxItems` durations in milliseconds, each within `range` (a wrong item is named by its place),
 * or a table `{ factor, max }` (see {@link BlockGrowth}).
 */
function durationListField(
  description: string,
  range: DurationRange,
  maxItems: number,
): z.ZodType<readonly number[] | BlockGrowth, unknown> {
  const item = durationCheck(range);
  return field<readonly number[] | BlockGrowth>(
    (input) => {
      if (input !== null && typeof input === "object" && !Array.isArray(input) && !(input instanceof Date))
        return blockGrowthCheck(input as Record<string, unknown>, range);
      if (!Array.isArray(input))
        return {
          ok: false,
          code: "invalid_type",
          message: `expected a list of durations or a table { factor, max }, got ${describe(input)}`,
        };
      if (input.length === 0)
        return { ok: false, code: "invalid_value", message: "list at least one duration" };
      if (input.length > maxItems)
        return { ok: false, code: "out_of_range", message: `list at most ${maxItems} durations` };
      const values: number[] = [];
      for (let i = 0; i < input.length; i++) {
        const result = item(input[i]);
        if (!result.ok) return { ...result, message: `item ${i + 1}: ${result.message}` };
        values.push(result.value);
      }
      return { ok: true, value: Object.freeze(values) };
    },
    {
      description: `${description} Durations such as "1m", "10m", "1h", each at most ${range.maxText}; or { factor, max }: each block factor times the previous, from block up to max.`,
      anyOf: [
        { type: "array", minItems: 1, maxItems, items: { anyOf: durationJson(range) } },
        {
          type: "object",
          additionalProperties: false,
          required: ["factor", "max"],
          properties: {
            factor: {
              anyOf: [{ type: "number", exclusiveMinimum: 1, maximum: MAX_BLOCK_FACTOR }, ENV_REFERENCE_JSON],
            },
            max: { anyOf: durationJson(range) },
          },
        },
      ],
    },
  );
}

/** `window` and `lease`: 1 ms to 3650 days. */
/** adaptive: the largest `burst_multiplier` (a cap a thousand times the sustained limit is already no limit). */
const MAX_BURST_MULTIPLIER = 1000;
/** adaptive: the largest load threshold (loads are fractions of the base rate; a window holds at most the cap). */
const MAX_LOAD_THRESHOLD = MAX_BURST_MULTIPLIER;
/** A block (`block`, a step of `block_escalation`): 1 ms to 2^31 − 1 ms. */
const BLOCK_SPAN: DurationRange = { min: 1, max: MAX_BLOCK_MS, maxText: MAX_BLOCK_TEXT };
/** `block_memory`: 0 to 3650 days. */
const BLOCK_MEMORY_SPAN: DurationRange = { min: 0, max: MAX_DURATION_MS, maxText: MAX_DURATION_TEXT };
const LIMITER_SPAN: DurationRange = { min: MIN_WINDOW_MS, max: MAX_DURATION_MS, maxText: MAX_DURATION_TEXT };
/** An `acquire()` timeout: 0 (decide at once) to 3650 days. */
const WAIT_SPAN: DurationRange = { min: 0, max: MAX_DURATION_MS, maxText: MAX_DURATION_TEXT };
/** A store call budget: 1 ms to one day. */
const STORE_SPAN: DurationRange = {
  min: MIN_STORE_TIMEOUT_MS,
  max: MAX_STORE_TIMEOUT_MS,
  maxText: MAX_STORE_TIMEOUT_TEXT,
};

/** Why a parsed rate is out of range (its count, its period, or how fast it is), or undefined when it is in. */
function rateRangeProblem(rate: ParsedRate): string | undefined {
  if (rate.count > MAX_COUNT) return `the count must be at most ${MAX_COUNT}`;
  if (rate.periodMs > MAX_DURATION_MS) return `the period must be at most ${MAX_DURATION_TEXT}`;
  if (rateIntervalMs(rate) < MIN_INTERVAL_MS) return `must be at most ${MAX_RATE_PER_SECOND}/s`;
  return undefined;
}

function rateField(description: string): z.ZodType<ParsedRate, unknown> {
  return field<ParsedRate>(
    (input) => {
      if (typeof input === "number") {
        return {
          ok: false,
          code: "invalid_type",
          message: `expected a string such as "100/s", got ${input} (for a number of units per second use "rate_per_second")`,
        };
      }
      if (typeof input !== "string")
        return {
          ok: false,
          code: "invalid_type",
          message: `expected a string such as "100/s", got ${describe(input)}`,
        };
      let rate: ParsedRate;
      try {
        rate = parseRate(input);
      } catch (error) {
        if (error instanceof InvalidArgumentError)
          return { ok: false, code: "invalid_value", message: error.message };
        throw error;
      }
      const problem = rateRangeProblem(rate);
      return problem === undefined
        ? { ok: true, value: rate }
        : { ok: false, code: "out_of_range", message: `${problem}, got ${describe(input)}` };
    },
    {
      description,
      anyOf: [{ type: "string", pattern: RATE_PATTERN }, ENV_REFERENCE_JSON],
      examples: ["100/s", "10/min", "3/5min", "1000/day"],
    },
  );
}

const URL_PROTOCOLS = {
  redis: ["redis://", "rediss://"],
  postgres: ["postgres://", "postgresql://"],
} as const;

function checkUrl(input: unknown, engine: keyof typeof URL_PROTOCOLS): string | undefined {
  if (typeof input !== "string") return `expected a URL string, got ${describe(input)}`;
  const protocols: readonly string[] = URL_PROTOCOLS[engine];
  if (!protocols.some((protocol) => input.toLowerCase().startsWith(protocol))) {
    // The value itself is not echoed: a mistyped URL may still carry a password.
    return `expected a URL starting with ${quoteList(protocols)}`;
  }
  return undefined;
}

function redisUrlField(): z.ZodType<string | readonly string[], unknown> {
  const single = { type: "string", pattern: "^rediss?://" };
  return field<string | readonly string[]>(
    (input) => {
      if (Array.isArray(input)) {
        if (input.length === 0)
          return { ok: false, code: "invalid_value", message: "expected at least one URL" };
        const urls: string[] = [];
        for (const [index, item] of input.entries()) {
          const problem = checkUrl(item, "redis");
          if (problem !== undefined)
            return { ok: false, code: "invalid_value", message: `item ${index}: ${problem}` };
          urls.push(String(item));
        }
        return { ok: true, value: Object.freeze(urls) };
      }
      const problem = checkUrl(input, "redis");
      return problem === undefined
        ? { ok: true, value: String(input) }
        : { ok: false, code: "invalid_value", message: problem };
    },
    {
      description: "redis:// or rediss:// URL; with cluster = true, a list of node URLs.",
      anyOf: [single, { type: "array", items: single, minItems: 1 }, ENV_REFERENCE_JSON],
    },
  );
}

function postgresUrlField(): z.ZodType<string, unknown> {
  return field<string>(
    (input) => {
      const problem = checkUrl(input, "postgres");
      return problem === undefined
        ? { ok: true, value: String(input) }
        : { ok: false, code: "invalid_value", message: problem };
    },
    {
      description: "postgres:// or postgresql:// URL.",
      anyOf: [{ type: "string", pattern: "^postgres(ql)?://" }, ENV_REFERENCE_JSON],
    },
  );
}

const TABLE_ERROR = {
  error: (issue: { code: string }) => (issue.code === "invalid_type" ? "expected a table" : undefined),
};

/** `[defaults]`. */
export const defaultsSchema = z.strictObject(
  {
    store: stringField("Store of every limiter that does not name one.").optional(),
    timeout: durationField("How long acquire() waits by default; 0 decides at once.", WAIT_SPAN).optional(),
    on_store_error: enumField(
      ON_STORE_ERROR_VALUES,
      "on_store_error",
      "What limiters do when their store fails.",
    ).optional(),
    max_clones: numberField({
      min: 1,
      max: MAX_ENTRIES,
      integer: true,
      description: "Bound of the clone handle cache (default 100000).",
    }).optional(),
  },
  TABLE_ERROR,
);

const poolMaxSize = () =>
  numberField({
    min: 1,
    max: MAX_POOL_SIZE,
    integer: true,
    description: "Connections of the store's one pool (default 10).",
  });
const poolMinSize = () =>
  numberField({
    min: "nonnegative",
    max: MAX_POOL_SIZE,
    integer: true,
    description: "rate-sync (Python): minimum connections.",
  });
const storeTimeout = () => durationField("Budget of one store call (default 1s).", STORE_SPAN);
const socketTimeout = () =>
  numberField({
    min: MIN_STORE_TIMEOUT_MS / 1000,
    max: MAX_STORE_TIMEOUT_MS / 1000,
    integer: false,
    description: "rate-sync (Python): socket timeout in seconds.",
  });
const socketConnectTimeout = () =>
  numberField({
    min: MIN_STORE_TIMEOUT_MS / 1000,
    max: MAX_STORE_TIMEOUT_MS / 1000,
    integer: false,
    description: "rate-sync (Python): connect timeout in seconds.",
  });
// rate-sync (Python) shortens the interval between calls by this margin to absorb jitter between its processes'
// clocks. Here every decision is made on the store's clock, so there is no jitter to absorb, and honouring it
// would admit more than the configured rate: accepted so Python files load, not used.
const timingMarginMs = () =>
  numberField({
    min: "nonnegative",
    // Unused, but still bounded like every number: a day in ms is far beyond any clock margin.
    max: MAX_STORE_TIMEOUT_MS,
    integer: false,
    description: "rate-sync (Python): timing safety margin in ms. Accepted, not used.",
  });

/** `[stores.<id>]` with `engine = "memory"`. */
export const memoryStoreSchema = z.strictObject(
  {
    engine: z.literal("memory"),
    // rate-sync (Python) ignores keys a store does not use, and its documented engine switch relies on it
    // (`engine = "${ENGINE:-memory}"` with `url = "${URL:-}"`): a memory store accepts a url, even empty.
    url: field<string>(
      (input) =>
        typeof input === "string"
          ? { ok: true, value: input }
          : { ok: false, code: "invalid_type", message: `expected a string, got ${describe(input)}` },
      { type: "string", description: "rate-sync (Python) engine switching: accepted, not used." },
    ).optional(),
    max_keys: numberField({
      min: 1,
      max: MAX_ENTRIES,
      integer: true,
      description: "Bound on live keys (default 1000000).",
    }).optional(),
  },
  TABLE_ERROR,
);

/** `client`: the name of a connection the application hands over in code (`RateSyncOptions.clients`). */
function clientField(kind: string): z.ZodType<string, unknown> {
  return stringField(
    `Name of ${kind} given in code (new RateSync(config, { clients: { <name>: client } })); instead of url. The application owns it: close() leaves it open.`,
    200,
  );
}

/** A `host:port` of a Redis Sentinel, parsed. */
export interface SentinelAddress {
  readonly host: string;
  readonly port: number;
}

const SENTINEL_ADDRESS = /^(?:\[(?<v6>[0-9a-fA-F:.]+)\]|(?<host>[^\s:[\]]+)):(?<port>\d{1,5})$/;

/** `sentinels = ["10.0.0.1:26379", "[::1]:26379"]`: at least one `host:port`. */
function sentinelsField(): z.ZodType<readonly SentinelAddress[], unknown> {
  return field<readonly SentinelAddress[]>(
    (input) => {
      if (!Array.isArray(input))
        return {
          ok: false,
          code: "invalid_type",
          message: `expected a list of "host:port" strings, got ${describe(input)}`,
        };
      if (input.length === 0)
        return { ok: false, code: "invalid_value", message: "expected at least one sentinel" };
      const out: SentinelAddress[] = [];
      for (const [index, item] of input.entries()) {
        const match = typeof item === "string" ? SENTINEL_ADDRESS.exec(item) : null;
        const port = Number(match?.groups?.port);
        if (match === null || !(port >= 1 && port <= 65_535)) {
          return {
            ok: false,
            code: "invalid_value",
            message: `item ${index}: expected "host:port" (port 1 to 65535), got ${describe(item)}`,
          };
        }
        out.push(Object.freeze({ host: (match.groups?.v6 ?? match.groups?.host) as string, port }));
      }
      return { ok: true, value: Object.freeze(out) };
    },
    {
      type: "array",
      minItems: 1,
      items: { type: "string", pattern: String.raw`^(\[[0-9a-fA-F:.]+\]|[^\s:\[\]]+):\d{1,5}$` },
      description: 'Redis Sentinels as "host:port"; the store asks them for the master named by name.',
    },
  );
}

/** `tls = { ca = "ca.pem", cert = "client.pem", key = "client.key", servername = "…", reject_unauthorized = true }`. */
export const redisTlsSchema = z.strictObject(
  {
    ca: stringField(
      "Path of a PEM file of the certificate authorities to trust (default: the system's).",
    ).optional(),
    cert: stringField("Path of the PEM client certificate (mutual TLS).").optional(),
    key: stringField("Path of the PEM private key of cert.").optional(),
    servername: stringField("Server name for SNI and the certificate check (default: the host).").optional(),
    reject_unauthorized: booleanField(
      "Refuse a server whose certificate does not verify (default true).",
    ).optional(),
  },
  TABLE_ERROR,
);

/** `tls = true` (the system's certificate authorities) or a table of TLS settings. */
function tlsField(): z.ZodType<boolean | z.output<typeof redisTlsSchema>, unknown> {
  return field<boolean | z.output<typeof redisTlsSchema>>(
    (input) => {
      if (input === true || input === "true") return { ok: true, value: true };
      if (input === false || input === "false") return { ok: true, value: false };
      if (typeof input !== "object" || input === null || Array.isArray(input)) {
        return {
          ok: false,
          code: "invalid_type",
          message: `expected true, false or a table such as { ca = "ca.pem" }, got ${describe(input)}`,
        };
      }
      const parsed = redisTlsSchema.safeParse(input);
      if (parsed.success) return { ok: true, value: parsed.data };
      const first = parsed.error.issues[0];
      const where = first?.path.length ? `${first.path.join(".")}: ` : "";
      const message =
        first?.code === "unrecognized_keys"
          ? `unknown key ${first.keys.map((k) => JSON.stringify(k)).join(", ")} (expected "ca", "cert", "key", "servername", "reject_unauthorized")`
          : `${where}${first?.message ?? "invalid"}`;
      return {
        ok: false,
        code: first?.code === "unrecognized_keys" ? "unknown_key" : "invalid_value",
        message,
      };
    },
    {
      description:
        "TLS to Redis: true (system CAs), or a table { ca, cert, key, servername, reject_unauthorized } of PEM file paths. A rediss:// URL turns TLS on too.",
      anyOf: [
        { type: "boolean" },
        {
          type: "object",
          additionalProperties: false,
          properties: {
            ca: { type: "string", minLength: 1 },
            cert: { type: "string", minLength: 1 },
            key: { type: "string", minLength: 1 },
            servername: { type: "string", minLength: 1 },
            reject_unauthorized: { type: "boolean" },
          },
        },
      ],
    },
  );
}

/** `[stores.<id>]` with `engine = "redis"`. */
export const redisStoreSchema = z.strictObject(
  {
    engine: z.literal("redis"),
    url: redisUrlField().optional(),
    client: clientField("an ioredis client or Cluster").optional(),
    sentinels: sentinelsField().optional(),
    name: stringField("With sentinels: the name of the master group (as in sentinel.conf).").optional(),
    sentinel_password: stringField("With sentinels: the password of the Sentinels themselves.").optional(),
    tls: tlsField().optional(),
    key_prefix: stringField('Namespace of every key (default "rate_sync").').optional(),
    cluster: booleanField("Connect with Redis Cluster; url may then be a list of node URLs.").optional(),
    db: numberField({
      min: "nonnegative",
      max: MAX_REDIS_DB,
      integer: true,
      description: "rate-sync (Python): database number.",
    }).optional(),
    password: stringField("rate-sync (Python): password, when not in the URL.").optional(),
    pool_max_size: poolMaxSize().optional(),
    pool_min_size: poolMinSize().optional(),
    timeout: storeTimeout().optional(),
    socket_timeout: socketTimeout().optional(),
    socket_connect_timeout: socketConnectTimeout().optional(),
    timing_margin_ms: timingMarginMs().optional(),
  },
  TABLE_ERROR,
);

/** `[stores.<id>]` with `engine = "postgres"`. */
export const postgresStoreSchema = z.strictObject(
  {
    engine: z.literal("postgres"),
    url: postgresUrlField().optional(),
    client: clientField("a postgres (postgres.js) sql instance").optional(),
    // PostgreSQL truncates identifiers longer than 63 bytes; refusing them avoids two stores silently sharing.
    table_name: stringField('Table of the state (default "rate_sync_state").', 63).optional(),
    schema_name: stringField('Schema of the table (default "public").', 63).optional(),
    auto_create: booleanField("Create the table and indexes if missing (default true).").optional(),
    unlogged: booleanField("Create the table UNLOGGED: faster, not crash-safe (default false).").optional(),
    pool_max_size: poolMaxSize().optional(),
    pool_min_size: poolMinSize().optional(),
    timeout: storeTimeout().optional(),
    socket_timeout: socketTimeout().optional(),
    socket_connect_timeout: socketConnectTimeout().optional(),
    timing_margin_ms: timingMarginMs().optional(),
  },
  TABLE_ERROR,
);

/** `[stores.<id>]` with `engine = "sqlite"`. */
export const sqliteStoreSchema = z.strictObject(
  {
    engine: z.literal("sqlite"),
    path: stringField(
      "The database file, created if missing; a relative path is relative to the working directory.",
    ),
    table_name: stringField('Table of the state (default "rate_sync_state").', 63).optional(),
    busy_timeout: durationField(
      "How long a decision waits for the file's write lock before it fails (default 1s).",
      STORE_SPAN,
    ).optional(),
  },
  TABLE_ERROR,
);

function stringListField(description: string): z.ZodType<readonly string[], unknown> {
  return field<readonly string[]>(
    (input) => {
      if (!Array.isArray(input))
        return {
          ok: false,
          code: "invalid_type",
          message: `expected a list of strings, got ${describe(input)}`,
        };
      for (const [index, item] of input.entries()) {
        if (typeof item !== "string" || item === "") {
          return {
            ok: false,
            code: "invalid_value",
            message: `item ${index}: expected a non-empty string, got ${describe(item)}`,
          };
        }
      }
      return { ok: true, value: Object.freeze([...input]) };
    },
    { type: "array", items: { type: "string", minLength: 1 }, description },
  );
}

/**
 * `[fastapi]` of rate-sync (Python): accepted and validated so its files load unchanged, never read. The HTTP
 * adapters here take their trusted proxies in code (`trustProxy`), next to the middleware they configure.
 */
export const fastapiSchema = z.strictObject(
  {
    trusted_proxy_networks: stringListField(
      "rate-sync (Python): proxy networks (CIDR) for FastAPI. Accepted, not used: pass trustProxy to the middleware.",
    ).optional(),
  },
  TABLE_ERROR,
);

/** Bounds of `[overrides]` (see `src/overrides/`): a store of overrides is config, and config stays small. */
export const MAX_OVERRIDES_BOUND = 10_000;
/** Upper bound of `[overrides] history`. */
export const MAX_OVERRIDE_HISTORY = 10_000;
/** How often, at least, a process checks the override store's version: between 100 ms and one hour. */
const CHECK_SPAN: DurationRange = { min: 100, max: 3_600_000, maxText: "1h" };

/**
 * `[overrides]`: runtime overrides of limiters and keys, kept in a shared store and applied by every process
 * (see `src/overrides/`).
 */
export const overridesSchema = z.strictObject(
  {
    store: stringField(
      "Store that holds the overrides (redis or postgres to share them; memory keeps them in process).",
    ),
    max_overrides: numberField({
      min: 1,
      max: MAX_OVERRIDES_BOUND,
      integer: true,
      description: "How many overrides may exist at once (default 1000).",
    }).optional(),
    history: numberField({
      min: 0,
      max: MAX_OVERRIDE_HISTORY,
      integer: true,
      description: "How many past changes the store keeps (default 100).",
    }).optional(),
    check_interval: durationField(
      "How often each process checks the store's version, to catch up on a missed message (default 5s).",
      CHECK_SPAN,
    ).optional(),
  },
  TABLE_ERROR,
);

/** Most entries one list may hold: far more than a hand-written list needs, small enough to compile at once. */
export const MAX_LIST_ENTRIES = 100_000;

/** A list of `[lists]`: key globs and CIDR ranges, each checked as the matcher will read it. */
function keyListField(description: string): z.ZodType<readonly string[], unknown> {
  return field<readonly string[]>(
    (input) => {
      if (!Array.isArray(input))
        return {
          ok: false,
          code: "invalid_type",
          message: `expected a list of key globs and CIDR ranges, got ${describe(input)}`,
        };
      if (input.length > MAX_LIST_ENTRIES)
        return {
          ok: false,
          code: "out_of_range",
          message: `at most ${MAX_LIST_ENTRIES} entries, got ${input.length}`,
        };
      for (const [index, item] of input.entries()) {
        if (typeof item !== "string")
          return {
            ok: false,
            code: "invalid_type",
            message: `item ${index}: expected a string, got ${describe(item)}`,
          };
        const entry = parseEntry(item);
        if ("problem" in entry)
          return { ok: false, code: "invalid_value", message: `item ${index}: ${entry.problem}` };
      }
      return { ok: true, value: Object.freeze([...input]) };
    },
    {
      type: "array",
      items: { type: "string", minLength: 1 },
      maxItems: MAX_LIST_ENTRIES,
      description,
    },
  );
}

/** `deny_status`: the HTTP status of a request refused by the deny list. */
const denyStatusField = field<DenyStatus>(
  (input) => {
    const value = typeof input === "string" ? parseNumberText(input) : input;
    if (value === 403 || value === 429) return { ok: true, value };
    return { ok: false, code: "invalid_value", message: `expected 403 or 429, got ${describe(input)}` };
  },
  {
    description: `HTTP status of a request refused by the deny list: 403 (Forbidden, the default) or 429 (Too Many Requests).`,
    anyOf: [{ enum: [403, 429] }, ENV_REFERENCE_JSON],
  },
);

/** `[lists]`: keys and client addresses admitted or refused without asking a store. */
export const listsSchema = z.strictObject(
  {
    allow: keyListField(
      'Admitted without asking the store (nothing consumed): key globs ("internal:*") and, for HTTP, client CIDR ranges ("10.0.0.0/8").',
    ).optional(),
    deny: keyListField(
      "Refused without asking the store (retryAfterMs = Infinity); wins over allow. Key globs and client CIDR ranges.",
    ).optional(),
    deny_status: denyStatusField.optional(),
  },
  TABLE_ERROR,
);

/** `[lists]` after validation. */
export type ParsedLists = z.output<typeof listsSchema>;

/** The deny status when `[lists]` does not set one. */
export { DEFAULT_DENY_STATUS };

/** The store schema of each engine. */
export const storeSchemas = {
  memory: memoryStoreSchema,
  redis: redisStoreSchema,
  postgres: postgresStoreSchema,
  sqlite: sqliteStoreSchema,
} as const;

/** The keys of a limiter's rate part: at the top of its table, or in each item of `limits`. */
const rateFields = {
  algorithm: enumField(ALGORITHM_NAMES, "algorithm", "Algorithm (default token_bucket).").optional(),
  rate: rateField("token_bucket, leaky_bucket: refill / drain rate."),
  rate_per_second: numberField({
    min: "positive",
    max: MAX_RATE_PER_SECOND,
    integer: false,
    description: "rate-sync (Python) form of rate.",
  }),
  burst: numberField({
    min: 1,
    max: MAX_COUNT,
    integer: true,
    description: "token_bucket: capacity; leaky_bucket: queue length.",
  }),
  limit: numberField({
    min: 1,
    max: MAX_COUNT,
    integer: true,
    description: "Window algorithms: units per window.",
  }),
  window: durationField("Window algorithms: window length.", LIMITER_SPAN),
  window_seconds: numberField({
    min: MIN_WINDOW_MS / 1000,
    max: MAX_DURATION_MS / 1000,
    integer: false,
    description: "rate-sync (Python) form of window.",
  }),
  burst_multiplier: numberField({
    min: 1,
    max: MAX_BURST_MULTIPLIER,
    integer: false,
    description: "adaptive: largest burst cap as a multiple of limit (default 3).",
  }),
  adaptive_window: durationField("adaptive: the span the load is measured over (default 5m).", LIMITER_SPAN),
  high_load_threshold: numberField({
    min: "positive",
    max: MAX_LOAD_THRESHOLD,
    integer: false,
    description: "adaptive: load (fraction of the base rate) from which the cap is lowest (default 0.8).",
  }),
  low_load_threshold: numberField({
    min: "nonnegative",
    max: MAX_LOAD_THRESHOLD,
    integer: false,
    description: "adaptive: load up to which the cap is largest (default 0.4); below high_load_threshold.",
  }),
  penalty: numberField({
    min: "nonnegative",
    max: 1,
    integer: false,
    description: "adaptive: share of the largest cap taken away at high load, 0 to 1 (default 0.5).",
  }),
};

/** The keys of a rate part (what `limits` items hold), in the schema's order. */
export const RATE_PART_KEYS: readonly string[] = Object.keys(rateFields);

/** One item of `limits = [...]`: a rate part, and the name its policy goes by in the RateLimit headers. */
export const limitSchema = z
  .strictObject(
    {
      name: stringField(
        'This limit\'s name in the RateLimit headers: "<limiter id>/<name>" (default: its place, 1, 2, …).',
        64,
      ).optional(),
      ...rateFields,
    },
    TABLE_ERROR,
  )
  .partial();

/** `[limiters.<id>]`: the keys of every algorithm; which ones apply together is checked in `validate.ts`. */
export const limiterSchema = z
  .strictObject(
    {
      store: stringField("Store id (default: defaults.store, else the only store).").optional(),
      ...rateFields,
      limits: z
        .array(limitSchema)
        .min(1, "list at least one limit")
        .max(MAX_LIMITS, `list at most ${MAX_LIMITS} limits`)
        .optional()
        .meta({
          description:
            "Several rate limits decided together, all or nothing (instead of the rate keys at the top of the table).",
        }),
      max_concurrent: numberField({
        min: 1,
        max: MAX_COUNT,
        integer: true,
        description: "Concurrency slots held between acquire and release.",
      }),
      lease: durationField("How long a slot is held if never released (default 60s).", LIMITER_SPAN),
      timeout: durationField("How long acquire() waits by default; 0 decides at once.", WAIT_SPAN),
      on_store_error: enumField(
        ON_STORE_ERROR_VALUES,
        "on_store_error",
        "What to do when the store fails (default allow).",
      ),
      fail_closed: booleanField('rate-sync (Python): true means on_store_error = "deny".'),
      shadow: booleanField("Evaluate and report, but never deny (default false)."),
      hash_keys: booleanField("Store sha256(key) instead of the key (default false)."),
      block: durationField(
        "Once a key is denied by the rate limit(s), it stays denied this long (a fixed block).",
        BLOCK_SPAN,
      ),
      block_escalation: durationListField(
        "Blocks that grow on repeat: the 1st, 2nd, … block in a row lasts the 1st, 2nd, … duration (the last repeats); instead of block. Or { factor, max } with block as the first.",
        BLOCK_SPAN,
        MAX_BLOCK_STEPS,
      ),
      block_memory: durationField(
        "With block_escalation: a block that starts less than this after the previous one ended is its repeat (default 1d).",
        BLOCK_MEMORY_SPAN,
      ),
    },
    TABLE_ERROR,
  )
  .partial();

/** A `[limiters.<id>]` table after validation: durations in ms, rates parsed, booleans and numbers typed. */
export type ParsedLimiter = z.output<typeof limiterSchema>;
/** One item of `limits` after validation. */
export type ParsedLimit = z.output<typeof limitSchema>;
/** The rate part of a limiter table or of a `limits` item. */
export type ParsedRatePart = Omit<ParsedLimit, "name">;
/** `[overrides]` after validation. */
export type ParsedOverrides = z.output<typeof overridesSchema>;
/** A `tls = { … }` table after validation. */
export type ParsedTls = z.output<typeof redisTlsSchema>;
/** `[defaults]` after validation. */
export type ParsedDefaults = z.output<typeof defaultsSchema>;
/** A `[stores.<id>]` table after validation. */
export type ParsedStore =
  | z.output<typeof memoryStoreSchema>
  | z.output<typeof redisStoreSchema>
  | z.output<typeof postgresStoreSchema>
  | z.output<typeof sqliteStoreSchema>;

/** The keys a limiter table may have. */
export const LIMITER_KEYS: readonly string[] = Object.keys(limiterSchema.shape);

/**
 * The top-level `allow_no_limiters = true`: the explicit opt-in a reload needs to apply a file that declares no
 * limiter at all while limiters from the file are running (otherwise refused as a save caught half way).
 */
export const allowNoLimitersSchema = booleanField(
  "Lets a reload apply this file although it declares no limiter, removing every running limiter of the file (refused otherwise). Write it before the first table.",
);

/** The whole file, for the JSON Schema only (validation runs table by table, see `validate.ts`). */
const configFileSchema = z
  .strictObject({
    allow_no_limiters: allowNoLimitersSchema.optional(),
    defaults: defaultsSchema.optional().meta({ description: "Settings every limiter inherits." }),
    stores: z
      .record(
        z.string(),
        z.discriminatedUnion("engine", [
          memoryStoreSchema,
          redisStoreSchema,
          postgresStoreSchema,
          sqliteStoreSchema,
        ]),
      )
      .optional()
      .meta({ description: "Where state lives, by store id." }),
    limiters: z.record(z.string(), limiterSchema).optional().meta({
      description: "What is limited and how, by limiter id; ids with <name> placeholders are templates.",
    }),
    overrides: overridesSchema
      .optional()
      .meta({ description: "Runtime overrides kept in a shared store, applied by every process." }),
    lists: listsSchema.optional().meta({
      description: "Allow and deny lists: keys and client addresses decided without asking a store.",
    }),
    fastapi: fastapiSchema
      .optional()
      .meta({ description: "rate-sync (Python) FastAPI settings. Accepted, not used." }),
  })
  .meta({ title: "rate-sync configuration", description: "rate-sync.toml: stores and limiters." });

/**
 * The JSON Schema of `rate-sync.toml`, as a user writes it (for editors, through `#:schema`). Generated from
 * the same zod schemas that validate the file.
 */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configFileSchema, {
    io: "input",
    // Fields are transforms (not representable); each one's written form is substituted below.
    unrepresentable: "any",
    override: (ctx) => {
      const json = jsonForms.get(ctx.zodSchema);
      if (json === undefined) return;
      const target = ctx.jsonSchema as Record<string, unknown>;
      for (const key of Object.keys(target)) delete target[key];
      Object.assign(target, structuredClone(json));
    },
  }) as Record<string, unknown>;
}
