/**
 * Every number the config accepts gives the same decision on every store (#13): for each documented bound
 * (`src/config/bounds.ts`), the limiter the config at exactly that bound produces runs a short scenario on the
 * memory store, on a real Redis and on a real PostgreSQL. Each result must equal the reference model
 * (`src/algorithms/`) at the store time the store reports — `allowed`, `remaining`, `retryAfterMs`,
 * `resetAfterMs`, `waitMs` — so the three stores agree with each other exactly; no store may raise an error
 * (which would make `on_store_error` decide instead), and every state written must carry a finite TTL. Just past
 * each bound the config is refused.
 *
 * Then through the public API, on each store: a cost far above the capacity (`1e308`, which overflowed
 * PostgreSQL's float8 arithmetic and so was allowed through `on_store_error = "allow"`) is denied with
 * `retryAfterMs = Infinity` and no store error. And the longest store timeouts (`timeout = "1d"`, whose socket
 * timeout defaults to two days) keep the limit on Redis and PostgreSQL, where `"30d"` overflowed Node's timers
 * (every call a store error after 1 ms, so allowed) and PostgreSQL's `statement_timeout`.
 */

import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireLease, decide } from "../../src/algorithms/index.ts";
import { storeCost } from "../../src/algorithms/shared.ts";
import type { ConcurrencyState, LimitParams } from "../../src/algorithms/types.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { isConfigError, RateSync } from "../../src/index.ts";
import { MemoryStore } from "../../src/stores/memory/memory-store.ts";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.ts";
import type { RedisStore } from "../../src/stores/redis/redis-store.ts";
import type { OpResult, StoreOp } from "../../src/stores/store.ts";
import { decideTimed } from "../helpers/store-times.ts";
import { requirePostgres, requireRedis, uniqueName } from "../helpers/stores.ts";
import { adminSql, dropStoreObjects, testConfig } from "./postgres/setup.ts";
import { deleteByPrefix, redisFixture } from "./redis/setup.ts";

const redis = await requireRedis();
const postgres = await requirePostgres();

/** Times agree to a microsecond (PostgreSQL keeps lease expiries as `timestamptz`, in microseconds). */
const MS_TOLERANCE = 1e-3;

/** A decided op and the store time it was decided at. */
interface Timed {
  readonly result: OpResult;
  readonly nowMs: number;
}

/** One store under test: decides one op and reports the store time used. */
interface Subject {
  readonly name: string;
  decide(op: StoreOp, maxWaitMs: number): Promise<Timed>;
  /** Checks that every state written so far has a finite expiry. */
  expectTtls(): Promise<void>;
  close(): Promise<void>;
}

function memorySubject(): Subject {
  let lastNow = 0;
  const store = new MemoryStore({
    now: () => {
      lastNow = performance.timeOrigin + performance.now();
      return lastNow;
    },
  });
  return {
    name: "memory",
    async decide(op, maxWaitMs) {
      const batch = await store.decide([op], maxWaitMs);
      return { result: batch.results[0]!, nowMs: lastNow };
    },
    async expectTtls() {},
    close: () => store.close(),
  };
}

function redisSubject(): Subject {
  const fixture = redisFixture(redis.url, {}, { overLimitCache: false });
  const store: RedisStore = fixture.store;
  return {
    name: "redis",
    async decide(op, maxWaitMs) {
      const { batch, storeNowMs } = await decideTimed(store, [op], maxWaitMs);
      expect(storeNowMs).toHaveLength(1);
      return { result: batch.results[0]!, nowMs: storeNowMs[0]! };
    },
    async expectTtls() {
      let cursor = "0";
      let keys = 0;
      do {
        const [next, found] = await fixture.raw.scan(cursor, "MATCH", `${fixture.config.keyPrefix}:*`);
        cursor = next;
        for (const key of found) {
          keys += 1;
          // -1 is a key without a TTL: state that would never be dropped. Any other answer is an expiry: 0 or
          // -2 (gone) when it ran out since the scan found it (1 ms windows and leases expire within a round trip).
          expect(await fixture.raw.pttl(key), `PTTL ${key}`).not.toBe(-1);
        }
      } while (cursor !== "0");
      expect(keys).toBeGreaterThan(0);
    },
    close: () => fixture.close(),
  };
}

function postgresSubject(): Subject {
  const config = testConfig("value_bounds", { url: postgres.url, poolMaxSize: 2 });
  const store = new PostgresStore(config, { cleanupIntervalMs: 0, overLimitCache: false });
  return {
    name: "postgres",
    async decide(op, maxWaitMs) {
      const { batch, nowMs } = await decideTimed(store, [op], maxWaitMs);
      return { result: batch.results[0]!, nowMs };
    },
    async expectTtls() {
      const admin = await adminSql(postgres.url);
      try {
        const [row] = await admin.unsafe(
          `SELECT count(*)::int AS rows,
                  count(*) FILTER (WHERE expires_at IS NULL OR NOT isfinite(expires_at))::int AS endless
             FROM ${config.schemaName}.${config.tableName}`,
        );
        expect(row?.rows).toBeGreaterThan(0);
        expect(row?.endless).toBe(0);
      } finally {
        await admin.end({ timeout: 1 });
      }
    },
    async close() {
      await store.close();
      await dropStoreObjects(config);
    },
  };
}

/** A step of a scenario: one call of `cost` (the engine's store cost of it) with a wait budget. */
interface Step {
  readonly cost: number;
  readonly maxWaitMs?: number;
  /** Milliseconds to let pass before the call. */
  readonly sleepMs?: number;
}

/** A bound: the limiter config exactly at it, the config just past it, and calls to run at it. */
interface BoundCase {
  readonly name: string;
  /** The `[limiters.x]` body at the bound. */
  readonly at: string;
  /** The body just past the bound (must be refused). */
  readonly past: string;
  /** Which part of the limiter the scenario exercises. */
  readonly part: "rate" | "concurrency";
  readonly steps: readonly Step[];
  /**
   * The `allowed` of each step, the same on every store (the scenarios are chosen so time does not change it);
   * absent where timing decides (1 ms windows), and only the comparison with the model applies.
   */
  readonly allowed?: readonly boolean[];
}

const DAY = 86_400_000;
const MAX_MS = 3650 * DAY;
/** The reservation budget of an `acquire()` without a timeout (`UNBOUNDED_WAIT_MS` in acquirer.ts). */
const UNBOUNDED_WAIT_MS = 1e12;

const CASES: readonly BoundCase[] = [
  ...(["fixed_window", "sliding_window", "sliding_window_counter"] as const).flatMap((kind): BoundCase[] => [
    {
      name: `${kind}: window = "3650d" (the longest)`,
      at: `algorithm = "${kind}"\nlimit = 2\nwindow = "3650d"`,
      past: `algorithm = "${kind}"\nlimit = 2\nwindow = "3651d"`,
      part: "rate",
      steps: [{ cost: 1 }, { cost: 1 }, { cost: 1 }],
      allowed: [true, true, false],
    },
    {
      name: `${kind}: window_seconds = 1e15 refused, window = "1ms" (the shortest) decides alike`,
      at: `algorithm = "${kind}"\nlimit = 1\nwindow = "1ms"`,
      past: `algorithm = "${kind}"\nlimit = 1\nwindow_seconds = 1e15`,
      part: "rate",
      // 1 ms windows: whether the second call shares the first one's window depends on timing, so only the
      // comparison with the model (at each store's own clock) says what is right.
      steps: [{ cost: 1 }, { cost: 1 }, { cost: 1, sleepMs: 5 }],
    },
    {
      name: `${kind}: limit = 10^12 (the largest)`,
      at: `algorithm = "${kind}"\nlimit = 1000000000000\nwindow = "1h"`,
      past: `algorithm = "${kind}"\nlimit = 1000000000001\nwindow = "1h"`,
      part: "rate",
      steps: [{ cost: 999_999_999_999 }, { cost: 1 }, { cost: 1 }, { cost: 1e308 }],
      allowed: [true, true, false, false],
    },
  ]),
  ...(["token_bucket", "leaky_bucket"] as const).flatMap((kind): BoundCase[] => [
    {
      name: `${kind}: rate = "1000000/s" (the fastest) with burst = 10^12 (the largest)`,
      at: `algorithm = "${kind}"\nrate = "1000000/s"\nburst = 1000000000000`,
      past: `algorithm = "${kind}"\nrate = "1000001/s"\nburst = 1000000000000`,
      part: "rate",
      // Two milliseconds refill 2e6 units of a token bucket; a leaky bucket's queue is still full.
      steps: [{ cost: 1e12 }, { cost: 1e12 }, { cost: 1, sleepMs: 2 }],
      allowed: kind === "token_bucket" ? [true, false, true] : [true, false, false],
    },
    {
      name: `${kind}: a bucket refilling in exactly 3650d (burst = 315360000 at 1/s)`,
      at: `algorithm = "${kind}"\nrate = "1/s"\nburst = 315360000`,
      past: `algorithm = "${kind}"\nrate = "1/s"\nburst = 315360001`,
      part: "rate",
      // The token bucket reserves the next unit (1 s ahead, within the 1.5 s budget); the leaky bucket's
      // queue is full for another 3650 days.
      steps: [{ cost: 315_360_000 }, { cost: 1 }, { cost: 1, maxWaitMs: 1500 }],
      allowed: kind === "token_bucket" ? [true, false, true] : [true, false, false],
    },
    {
      name: `${kind}: rate = "1/3650d" (the slowest), with a wait budget of 3650d (the longest timeout)`,
      at: `algorithm = "${kind}"\nrate = "1/3650d"\ntimeout = "3650d"`,
      past: `algorithm = "${kind}"\nrate = "1/3651d"`,
      part: "rate",
      steps: [
        { cost: 1 },
        { cost: 1 },
        { cost: 1, maxWaitMs: MAX_MS },
        { cost: 1, maxWaitMs: MAX_MS },
        // The budget of an acquire() without a timeout (see acquirer.ts): about 31 years.
        { cost: 1, maxWaitMs: UNBOUNDED_WAIT_MS },
      ],
      // A token bucket's third call reserves the next unit (about 3650 days ahead), the fourth would need twice
      // the budget, and the fifth, without a timeout, reserves the one after; a leaky bucket of one slot is
      // full until the first unit has left.
      allowed:
        kind === "token_bucket" ? [true, false, true, false, true] : [true, false, false, false, false],
    },
  ]),
  {
    name: "token_bucket: cost = 0.000001 (the smallest) at the fastest rate",
    at: `rate = "1000000/s"\nburst = 1`,
    past: `rate = "1000001/s"\nburst = 1`,
    part: "rate",
    steps: [{ cost: 1e-6 }, { cost: 1e-6 }, { cost: 1 }, { cost: 1e-6 }],
    allowed: [true, true, true, true],
  },
  {
    name: "token_bucket: a cost of 1e308 (far above the capacity) is denied alike",
    at: `rate = "10/s"\nburst = 10`,
    past: `rate = "10/s"\nburst = 1e308`,
    part: "rate",
    steps: [{ cost: 1e308 }, { cost: 3.5 }, { cost: 1e308 }],
    allowed: [false, true, false],
  },
  {
    name: 'concurrency: max_concurrent = 10^12 (the largest) with lease = "3650d" (the longest)',
    at: `max_concurrent = 1000000000000\nlease = "3650d"`,
    past: `max_concurrent = 1000000000001\nlease = "3650d"`,
    part: "concurrency",
    steps: [{ cost: 1 }, { cost: 1 }],
    allowed: [true, true],
  },
  {
    name: 'concurrency: lease = "3650d" (1e15 s refused) holds its slot',
    at: `max_concurrent = 1\nlease = "3650d"`,
    past: `max_concurrent = 1\nlease = 1e15`,
    part: "concurrency",
    steps: [{ cost: 1 }, { cost: 1 }],
    allowed: [true, false],
  },
  {
    name: 'concurrency: lease = "1ms" (the shortest) frees its slot',
    at: `max_concurrent = 1\nlease = "1ms"`,
    past: `max_concurrent = 1\nlease = "0.5ms"`,
    part: "concurrency",
    steps: [{ cost: 1 }, { cost: 1, sleepMs: 5 }],
    allowed: [true, true],
  },
];

/** The limiter params the config at the bound produces (what the engine hands the stores). */
function paramsOf(body: string, part: BoundCase["part"]): LimitParams {
  const limiter = parseConfigText(`[limiters.x]\n${body}\n`, { env: {} }).limiters.get("x");
  const params = part === "rate" ? limiter?.rate : limiter?.concurrency;
  if (params === undefined) throw new Error(`no ${part} part in ${body}`);
  return params;
}

function expectSameMs(actual: number, expected: number, what: string): void {
  if (!Number.isFinite(expected)) {
    expect(actual, what).toBe(expected);
    return;
  }
  expect(Math.abs(actual - Math.max(0, expected)), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(
    MS_TOLERANCE,
  );
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let run = 0;

/** Runs a case's steps on one store, each compared with the model at the store's time; returns `allowed`s. */
async function runCase(subject: Subject, bound: BoundCase): Promise<boolean[]> {
  run += 1;
  const params = paramsOf(bound.at, bound.part);
  const base = { limiterId: `bounds-${run}`, key: "k", params };
  let state: unknown;
  const allowed: boolean[] = [];
  for (const [index, step] of bound.steps.entries()) {
    if (step.sleepMs) await sleep(step.sleepMs);
    const label = `${subject.name} step ${index} (cost ${step.cost})`;
    const maxWaitMs = step.maxWaitMs ?? 0;
    let expected: OpResult & { state: unknown };
    let timed: Timed;
    if (params.kind === "concurrency") {
      const leaseId = `lease-${index}`;
      timed = await subject.decide({ ...base, cost: 1, leaseId }, 0);
      expected = acquireLease(params, state as ConcurrencyState | undefined, timed.nowMs, leaseId);
    } else {
      // The cost the engine sends (see `storeCost`): a cost above the capacity arrives as capacity + 1.
      const cost = storeCost(params, step.cost);
      timed = await subject.decide({ ...base, cost }, maxWaitMs);
      expected = decide(params, { state, nowMs: timed.nowMs, cost, maxWaitMs });
    }
    const { result } = timed;
    expect(result.allowed, `${label} allowed`).toBe(expected.allowed);
    expect(result.limit, `${label} limit`).toBe(expected.limit);
    expect(result.remaining, `${label} remaining`).toBe(expected.remaining);
    expectSameMs(result.retryAfterMs, expected.retryAfterMs, `${label} retryAfterMs`);
    expectSameMs(result.resetAfterMs, expected.resetAfterMs, `${label} resetAfterMs`);
    expectSameMs(result.waitMs, expected.waitMs, `${label} waitMs`);
    if (expected.allowed) state = expected.state;
    allowed.push(result.allowed);
  }
  return allowed;
}

describe("each bound is refused just past it", () => {
  for (const bound of CASES) {
    it(bound.name, () => {
      let thrown: unknown;
      try {
        parseConfigText(`[limiters.x]\n${bound.past}\n`, { env: {} });
      } catch (error) {
        thrown = error;
      }
      expect(isConfigError(thrown), String(thrown)).toBe(true);
    });
  }
});

const subjects: [string, boolean, () => Subject][] = [
  ["memory", true, memorySubject],
  ["redis", redis.available, redisSubject],
  ["postgres", postgres.available, postgresSubject],
];

for (const [name, available, make] of subjects) {
  describe.skipIf(!available)(`${name} store at every bound: the same decisions as the model`, () => {
    let subject: Subject;
    beforeAll(() => {
      subject = make();
    });
    afterAll(async () => {
      // Every state the scenarios wrote expires: none was written without a TTL.
      await subject.expectTtls();
      await subject.close();
    });

    for (const bound of CASES) {
      it(bound.name, async () => {
        const allowed = await runCase(subject, bound);
        // The model comparison above is exact; this pins the outcome the scenario was designed for, so the
        // three stores are known to agree with each other, not only each with the model.
        if (bound.allowed !== undefined) expect(allowed).toEqual(bound.allowed);
      });
    }
  });
}

/** A RateSync with one token bucket (and one fixed window) on the given store table. */
function instanceOn(storeTable: string): RateSync {
  return RateSync.fromToml(
    `${storeTable}\n[limiters.tb]\nstore = "s"\nrate = "10/s"\n\n[limiters.fw]\nstore = "s"\nalgorithm = "fixed_window"\nlimit = 5\nwindow = "1h"\n`,
    { env: {} },
  );
}

describe("a cost far above the capacity, through the public API", () => {
  const prefix = uniqueName("value_bounds_api");
  const table = uniqueName("value_bounds_api");
  const tables: [string, boolean, string][] = [
    ["memory", true, `[stores.s]\nengine = "memory"\n`],
    [
      "redis",
      redis.available,
      `[stores.s]\nengine = "redis"\nurl = "${redis.url}"\nkey_prefix = "${prefix}"\n`,
    ],
    [
      "postgres",
      postgres.available,
      `[stores.s]\nengine = "postgres"\nurl = "${postgres.url}"\ntable_name = "${table}"\n`,
    ],
  ];

  afterAll(async () => {
    if (redis.available) {
      const raw = new Redis(redis.url);
      await deleteByPrefix(raw, prefix);
      raw.disconnect();
    }
    if (postgres.available) await dropStoreObjects({ schemaName: "public", tableName: table });
  });

  for (const [name, available, storeTable] of tables) {
    it.skipIf(!available)(
      `${name}: cost 1e308 is denied with retryAfterMs = Infinity, no store error`,
      async () => {
        const rs = instanceOn(storeTable);
        const storeErrors: unknown[] = [];
        rs.on("storeError", (event) => storeErrors.push(event));
        try {
          for (const id of ["tb", "fw"]) {
            for (const cost of [1e308, Number.MAX_VALUE, 1e15]) {
              const decision = await rs.tryAcquire(id, { cost });
              expect(decision.allowed, `${id} cost ${cost}`).toBe(false);
              expect(decision.retryAfterMs, `${id} cost ${cost}`).toBe(Number.POSITIVE_INFINITY);
            }
            // Nothing was consumed: the whole capacity is still there.
            expect((await rs.peek(id)).remaining).toBe(id === "tb" ? 10 : 5);
          }
          expect(storeErrors).toEqual([]);
        } finally {
          await rs.close();
        }
      },
    );
  }
});

describe("store timeouts at their bounds (#13)", () => {
  const prefix = uniqueName("value_bounds_timeouts");
  const table = uniqueName("value_bounds_timeouts");
  /** The longest budgets a store accepts; the socket timeout defaults to twice `timeout` (two days). */
  const LONGEST = 'timeout = "1d"\nsocket_connect_timeout = 86400\n';
  const tables: [string, boolean, string][] = [
    [
      "redis",
      redis.available,
      `[stores.s]\nengine = "redis"\nurl = "${redis.url}"\nkey_prefix = "${prefix}"\n${LONGEST}`,
    ],
    [
      "postgres",
      postgres.available,
      `[stores.s]\nengine = "postgres"\nurl = "${postgres.url}"\ntable_name = "${table}"\n${LONGEST}`,
    ],
  ];
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  beforeAll(() => {
    process.on("warning", onWarning);
  });

  afterAll(async () => {
    process.off("warning", onWarning);
    if (redis.available) {
      const raw = new Redis(redis.url);
      await deleteByPrefix(raw, prefix);
      raw.disconnect();
    }
    if (postgres.available) await dropStoreObjects({ schemaName: "public", tableName: table });
  });

  for (const [name, available, storeTable] of tables) {
    it.skipIf(!available)(
      `${name}: timeout = "1d" keeps the limit (30d, refused now, let every call through)`,
      async () => {
        const rs = RateSync.fromToml(
          `${storeTable}\n[limiters.fw]\nstore = "s"\nalgorithm = "fixed_window"\nlimit = 10\nwindow = "1h"\n`,
          { env: {} },
        );
        const storeErrors: unknown[] = [];
        rs.on("storeError", (event) => storeErrors.push(event));
        try {
          let allowed = 0;
          for (let i = 0; i < 50; i++) if ((await rs.tryAcquire("fw")).allowed) allowed += 1;
          expect(allowed).toBe(10);
          expect(storeErrors).toEqual([]);
          // No timer was armed past what Node takes (it would fire after 1 ms, with this warning).
          expect(warnings.filter((w) => w.name === "TimeoutOverflowWarning")).toEqual([]);
        } finally {
          await rs.close();
        }
        // Just past the bound, the config is refused rather than run.
        expect(() => RateSync.fromToml(storeTable.replace('"1d"', '"30d"'), { env: {} })).toThrow(
          'must be at most 1d (86400000 ms), got "30d"',
        );
      },
    );
  }
});
