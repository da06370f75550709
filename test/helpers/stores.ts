/**
 * @module
 * Gates for tests that need a real Redis or PostgreSQL server.
 *
 * Policy: under CI (`process.env.CI` set) an unreachable store is a test FAILURE — a green CI run must mean the
 * store-backed suites really ran. Outside CI the suite is skipped with a loud warning, so a laptop without
 * Redis or PostgreSQL can still run everything else.
 *
 * @example
 * ```ts
 * const redis = await requireRedis();
 * describe.skipIf(!redis.available)("redis store", () => {
 *   // use redis.url
 * });
 * ```
 */

/** Whether a store answered, and where it is. */
export interface StoreAvailability {
  /** True when the server answered a trivial query; store-backed tests should run. */
  readonly available: boolean;
  /** The connection URL the tests should use (from the environment or the default). */
  readonly url: string;
}

/** Default Redis URL when `REDIS_URL` is unset. */
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";
/** Default PostgreSQL URL when `DATABASE_URL` is unset. */
export const DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test";

/** How long a probe may take before the store counts as unreachable. */
const PROBE_TIMEOUT_MS = 3_000;

/** True under CI: `CI` set to anything but an explicit no (`false`, `0`, empty). */
export function isCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== "" && ci !== "0" && ci.toLowerCase() !== "false";
}

/** The URL to test Redis with: `REDIS_URL`, else {@link DEFAULT_REDIS_URL}. */
export function redisUrl(): string {
  return process.env.REDIS_URL || DEFAULT_REDIS_URL;
}

/** The URL to test PostgreSQL with: `DATABASE_URL`, else {@link DEFAULT_DATABASE_URL}. */
export function databaseUrl(): string {
  return process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
}

/**
 * A name unique to this test file run, safe as a Redis key prefix and as an unquoted PostgreSQL identifier
 * (lowercase letters, digits, underscores). Parallel test files and parallel engineers never collide.
 *
 * @example uniqueName("redis_store") // "rs_redis_store_4711_lx2k9a_3f"
 */
export function uniqueName(base: string): string {
  const safe = base.toLowerCase().replace(/[^a-z0-9_]/g, "_");
  const random = Math.floor(Math.random() * 0xffff).toString(16);
  return `rs_${safe}_${process.pid}_${Date.now().toString(36)}_${random}`;
}

function masked(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, "//$1:***@");
}

async function gate(label: string, url: string, probe: () => Promise<void>): Promise<StoreAvailability> {
  try {
    await probe();
    return { available: true, url };
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    const message = `${label} is not reachable at ${masked(url)} (${why})`;
    if (isCi()) {
      // Failing loudly under CI: a skipped store suite must never look like a passing one.
      throw new Error(`${message}; CI requires it`);
    }
    console.warn(
      `\n${"!".repeat(78)}\n!!! SKIPPING ${label} TESTS: ${message}.\n!!! Set CI=1 to turn this into a failure.\n${"!".repeat(78)}\n`,
    );
    return { available: false, url };
  }
}

function withProbeTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} timed out after ${PROBE_TIMEOUT_MS} ms`)),
      PROBE_TIMEOUT_MS,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Checks that Redis answers `PING`. Under CI an unreachable Redis throws (failing the test file); otherwise a
 * loud warning is printed and `available` is false.
 *
 * @param url Where to probe. @default `REDIS_URL` or `redis://127.0.0.1:6379`
 */
export async function requireRedis(url: string = redisUrl()): Promise<StoreAvailability> {
  return gate("Redis", url, async () => {
    const { Redis } = await import("ioredis");
    const client = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: PROBE_TIMEOUT_MS,
      enableOfflineQueue: false,
    });
    // Connection errors are reported through the promise below; the event would otherwise be unhandled noise.
    client.on("error", () => {});
    try {
      await withProbeTimeout(client.connect(), "Redis connect");
      const pong = await withProbeTimeout(client.ping(), "Redis PING");
      if (pong !== "PONG") throw new Error(`unexpected PING reply ${JSON.stringify(pong)}`);
    } finally {
      client.disconnect();
    }
  });
}

/**
 * Checks that PostgreSQL answers `SELECT 1`. Under CI an unreachable server throws (failing the test file);
 * otherwise a loud warning is printed and `available` is false.
 *
 * @param url Where to probe. @default `DATABASE_URL` or `postgres://postgres@127.0.0.1:5432/test`
 */
export async function requirePostgres(url: string = databaseUrl()): Promise<StoreAvailability> {
  return gate("PostgreSQL", url, async () => {
    // The package's types declare `export =`, but its ESM build has a default export: bridge the two.
    const postgres = ((await import("postgres")) as unknown as { default: typeof import("postgres") })
      .default;
    const sql = postgres(url, {
      max: 1,
      connect_timeout: Math.ceil(PROBE_TIMEOUT_MS / 1000),
      onnotice: () => {},
    });
    try {
      await withProbeTimeout(sql`select 1 as one`, "PostgreSQL SELECT 1");
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
}
