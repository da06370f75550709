/**
 * Reference-model property test: random sequences of decisions, peeks and refunds on the PostgreSQL store,
 * replayed on the pure algorithms of `src/algorithms` at the store time each statement reports. Every field of
 * every result must agree (times to a microsecond: the SQL and the model do the same double arithmetic, except
 * that lease expiries pass through `timestamptz`).
 *
 * A single rate op has three paths on the server (the plain-SQL statement of its algorithm — the exact log has
 * none — the lean `<table>_decide_one` and the batch function `<table>_decide_batch`, a peek `<table>_decide`);
 * each step picks one at random, on the same rows, so all are compared with the model and each reads what the
 * others wrote.
 */

import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  acquireLease,
  decide,
  peek,
  peekConcurrency,
  refund,
  releaseLease,
} from "../../src/algorithms/index.ts";
import type { ConcurrencyParams, ConcurrencyState, RateParams } from "../../src/algorithms/types.ts";
import { decideOneFunctionSql } from "../../src/stores/postgres/functions-sql.ts";
import { postgresNames } from "../../src/stores/postgres/identifiers.ts";
import { PostgresStore, tuneDecidePaths } from "../../src/stores/postgres/postgres-store.ts";
import { type OpResult, type StoreOp, stateTag } from "../../src/stores/store.ts";
import { adaptiveParamsArb } from "../helpers/adaptive-params.ts";
import { chargeTimed, decideTimed, peekTimed, refundTimed } from "../helpers/store-times.ts";
import { requirePostgres } from "../helpers/stores.ts";
import { adminSql, dropStoreObjects, testConfig } from "./postgres/setup.ts";

const postgres = await requirePostgres();
const config = testConfig("pg_model", { url: postgres.url, poolMaxSize: 2 });
const table = postgresNames(config.schemaName, config.tableName).table;
const admin = await adminSql(postgres.url);

/** Float tolerance for durations, in ms (lease expiries are rounded to microseconds by `timestamptz`). */
const MS_TOLERANCE = 1e-3;
const RUNS = Number(process.env.PG_MODEL_RUNS ?? 12);

/**
 * The server path of a single op: `sql` the plain-SQL statement (what a store uses by default; its fallback and
 * the exact log take `<table>_decide_one`), `one` the lean function `<table>_decide_one`, `general` the batch
 * function, as a batch of one (peeks: the general decide function).
 */
type Path = "sql" | "one" | "general";
const pathArb = fc.constantFrom<Path>("sql", "one", "general");

type Step =
  | {
      readonly type: "decide";
      readonly cost: number;
      readonly maxWaitMs: number;
      readonly sleepMs: number;
      readonly path: Path;
    }
  | { readonly type: "peek"; readonly cost: number; readonly sleepMs: number; readonly path: Path }
  | { readonly type: "refund"; readonly cost: number; readonly sleepMs: number }
  | { readonly type: "charge"; readonly cost: number; readonly sleepMs: number };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function expectSameMs(actual: number, expected: number, what: string): void {
  if (!Number.isFinite(expected)) {
    expect(actual, what).toBe(expected);
    return;
  }
  expect(Math.abs(actual - Math.max(0, expected)), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(
    MS_TOLERANCE,
  );
}

function expectSameResult(actual: OpResult, expected: OpResult, step: string): void {
  expect(actual.allowed, `${step} allowed`).toBe(expected.allowed);
  expect(actual.limit, `${step} limit`).toBe(expected.limit);
  expect(actual.remaining, `${step} remaining`).toBe(expected.remaining);
  expectSameMs(actual.resetAfterMs, expected.resetAfterMs, `${step} resetAfterMs`);
  expectSameMs(actual.retryAfterMs, expected.retryAfterMs, `${step} retryAfterMs`);
  expectSameMs(actual.waitMs, expected.waitMs, `${step} waitMs`);
}

const sleepArb = fc.integer({ min: 0, max: 25 });
const intCost = fc.integer({ min: 1, max: 6 });

function stepsArb(cost: fc.Arbitrary<number>, reservations: boolean): fc.Arbitrary<Step[]> {
  const maxWait = reservations ? fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 60 })) : fc.constant(0);
  return fc.array(
    fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({
          type: fc.constant("decide" as const),
          cost,
          maxWaitMs: maxWait,
          sleepMs: sleepArb,
          path: pathArb,
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          type: fc.constant("peek" as const),
          cost,
          sleepMs: sleepArb,
          path: pathArb,
        }),
      },
      { weight: 1, arbitrary: fc.record({ type: fc.constant("refund" as const), cost, sleepMs: sleepArb }) },
      { weight: 1, arbitrary: fc.record({ type: fc.constant("charge" as const), cost, sleepMs: sleepArb }) },
    ),
    { minLength: 1, maxLength: 25 },
  );
}

const bucketParams = (kind: "token_bucket" | "leaky_bucket") =>
  fc.record({
    kind: fc.constant(kind),
    intervalMs: fc.integer({ min: 1, max: 20 }),
    burst: fc.integer({ min: 1, max: 5 }),
  });

const windowParams = (kind: "fixed_window" | "sliding_window" | "sliding_window_counter") =>
  fc.record({
    kind: fc.constant(kind),
    limit: fc.integer({ min: 1, max: 5 }),
    windowMs: fc.integer({ min: 20, max: 120 }),
  });

let runs = 0;

/** The stored expiry of a rate state, in epoch ms (undefined while there is no row or only a placeholder). */
async function storedExpiryMs(op: StoreOp): Promise<number | undefined> {
  const [row] = await admin.unsafe(
    `SELECT (extract(epoch FROM expires_at) * 1000)::float8 AS ms FROM ${table}
      WHERE limiter_id = $1 AND key = $2 AND tag = $3 AND lease_id = ''`,
    [op.limiterId, op.key, stateTag(op.params)],
  );
  const ms = row?.ms as number | undefined;
  return ms === undefined || !Number.isFinite(ms) ? undefined : ms;
}

/** The row version (`xmin`) of a rate state's row, undefined while there is none. */
async function rowVersion(op: StoreOp): Promise<string | undefined> {
  const [row] = await admin.unsafe(
    `SELECT xmin::text AS v FROM ${table} WHERE limiter_id = $1 AND key = $2 AND tag = $3 AND lease_id = ''`,
    [op.limiterId, op.key, stateTag(op.params)],
  );
  return row?.v as string | undefined;
}

/** The ways a single op reaches the server, on the same table. */
type Paths = Readonly<Record<Path, PostgresStore>>;

/** Replays one sequence on the store (each decide and peek on the path it names) and on the model. */
async function checkRate(paths: Paths, params: RateParams, steps: readonly Step[]): Promise<void> {
  runs += 1;
  const base = { limiterId: `model-${runs}-${params.kind}`, key: `k:{${runs}} ü`, params };
  let state: unknown;
  /** When the row must expire: `now + ttlMs` of the last allowed decision (refunds keep it, conservatively). */
  let expiresAtMs: number | undefined;
  for (const [index, step] of steps.entries()) {
    await sleep(step.sleepMs);
    const op: StoreOp = { ...base, cost: step.cost };
    const store = "path" in step ? paths[step.path] : paths.sql;
    const label = `#${index} ${step.type}${"path" in step ? ` (${step.path})` : ""} cost ${step.cost}`;
    if (step.type === "decide") {
      const versionBefore = await rowVersion(op);
      const { batch, nowMs } = await decideTimed(store, [op], step.maxWaitMs);
      const outcome = decide(params, { state, nowMs, cost: step.cost, maxWaitMs: step.maxWaitMs });
      expectSameResult(batch.results[0] as OpResult, outcome, label);
      if (outcome.allowed) {
        state = outcome.state;
        expiresAtMs = nowMs + outcome.ttlMs;
      } else if (versionBefore !== undefined) {
        // A denial writes nothing: the row keeps its version.
        expect(await rowVersion(op), `${label} row version`).toBe(versionBefore);
      }
      // The row lives exactly as long as the state constrains anything (timestamptz keeps microseconds).
      const stored = await storedExpiryMs(op);
      if (expiresAtMs === undefined) expect(stored, `${label} expiry`).toBeUndefined();
      else
        expect(Math.abs((stored ?? Number.NaN) - expiresAtMs), `${label} expiry`).toBeLessThanOrEqual(0.01);
    } else if (step.type === "peek") {
      const { result, nowMs } = await peekTimed(store, op);
      const view = peek(params, state, nowMs);
      const dryRun = decide(params, { state, nowMs, cost: step.cost, maxWaitMs: 0 });
      expectSameResult(
        result,
        { ...view, allowed: dryRun.allowed, retryAfterMs: dryRun.retryAfterMs, waitMs: 0 },
        label,
      );
    } else if (step.type === "charge") {
      // A charge is the refund of a negative cost: the model applies it so, and the row lives as long.
      const nowMs = await chargeTimed(store, [op]);
      const after = refund(params, state, nowMs, -step.cost);
      state = after.state;
      expiresAtMs = Math.max(expiresAtMs ?? Number.NEGATIVE_INFINITY, nowMs + after.ttlMs);
      const stored = await storedExpiryMs(op);
      expect(Math.abs((stored ?? Number.NaN) - expiresAtMs), `${label} expiry`).toBeLessThanOrEqual(0.01);
    } else {
      const nowMs = await refundTimed(store, [op]);
      state = refund(params, state, nowMs, step.cost).state;
    }
  }
}

describe.skipIf(!postgres.available)("PostgreSQL store against the reference model", () => {
  const store = new PostgresStore(config, { cleanupIntervalMs: 0, overLimitCache: false });
  const one = new PostgresStore(config, { cleanupIntervalMs: 0, overLimitCache: false });
  tuneDecidePaths(one, { lean: true, plainSql: false });
  const general = new PostgresStore(config, { cleanupIntervalMs: 0, overLimitCache: false });
  tuneDecidePaths(general, { lean: false, plainSql: false });
  const paths: Paths = { sql: store, one, general };

  // The table exists before the first step reads row versions.
  beforeAll(() => store.ensureReady());

  afterAll(async () => {
    await admin.end({ timeout: 1 });
    await store.close();
    await one.close();
    await general.close();
    await dropStoreObjects(config);
  });

  const cases: [string, fc.Arbitrary<RateParams>, fc.Arbitrary<number>, boolean][] = [
    [
      "token_bucket",
      bucketParams("token_bucket"),
      fc.oneof(intCost, fc.double({ min: 0.25, max: 4, noNaN: true })),
      true,
    ],
    ["leaky_bucket", bucketParams("leaky_bucket"), intCost, true],
    ["fixed_window", windowParams("fixed_window"), intCost, false],
    ["sliding_window", windowParams("sliding_window"), intCost, false],
    ["sliding_window_counter", windowParams("sliding_window_counter"), intCost, false],
    ["adaptive", adaptiveParamsArb(), intCost, false],
  ];

  for (const [name, paramsArb, costArb, reservations] of cases) {
    it(`${name}: decide (plain SQL, lean and general paths), peek, refund and charge agree with src/algorithms`, {
      timeout: 120_000,
    }, async () => {
      await fc.assert(
        fc.asyncProperty(paramsArb, stepsArb(costArb, reservations), (params, steps) =>
          checkRate(paths, params, steps),
        ),
        { numRuns: RUNS },
      );
    });
  }

  const handoffParams: RateParams[] = [
    { kind: "token_bucket", intervalMs: 40, burst: 3 },
    { kind: "leaky_bucket", intervalMs: 40, burst: 3 },
    { kind: "fixed_window", limit: 3, windowMs: 200 },
    { kind: "sliding_window", limit: 3, windowMs: 200 },
    { kind: "sliding_window_counter", limit: 3, windowMs: 200 },
    {
      kind: "adaptive",
      limit: 3,
      windowMs: 200,
      burstMultiplier: 2,
      adaptiveWindowMs: 400,
      highLoad: 0.8,
      lowLoad: 0.4,
      penalty: 0.5,
    },
  ];
  for (const params of handoffParams) {
    it(`${params.kind}: state written by one path is read alike by the other, by peek and by refund`, async () => {
      const decideOn = (path: Path, cost = 1, sleepMs = 0): Step => ({
        type: "decide",
        cost,
        maxWaitMs: 0,
        sleepMs,
        path,
      });
      const peekOn = (path: Path): Step => ({ type: "peek", cost: 1, sleepMs: 0, path });
      const refundStep: Step = { type: "refund", cost: 1, sleepMs: 0 };
      await checkRate(paths, params, [
        // a new key: the plain statement finds no row and the call goes on to decide_one, which inserts it
        decideOn("sql"),
        // the general path reads it (peek and decide), then the plain statement, decide_one, and back
        peekOn("general"),
        decideOn("general"),
        peekOn("one"),
        decideOn("sql"),
        // full now: every path denies alike, and a denial changes nothing
        decideOn("sql"),
        decideOn("one"),
        decideOn("general"),
        peekOn("sql"),
        // a refund is seen by every path
        refundStep,
        peekOn("one"),
        decideOn("sql"),
        refundStep,
        decideOn("one"),
        refundStep,
        decideOn("general"),
        // after some refill or a window change, the paths keep agreeing
        decideOn("general", 1, 90),
        decideOn("sql", 2, 130),
        peekOn("general"),
        decideOn("one", 1, 10),
        decideOn("sql", 1, 10),
        peekOn("sql"),
      ]);
    });
  }

  for (const params of handoffParams.filter((p) => p.kind === "sliding_window" || p.kind === "adaptive")) {
    it(`${params.kind}: a charge on an empty state, in debt, within one ms and after expiry agrees`, async () => {
      const charge = (cost: number, sleepMs = 0): Step => ({ type: "charge", cost, sleepMs });
      const decideOn = (path: Path, sleepMs = 0): Step => ({
        type: "decide",
        cost: 1,
        maxWaitMs: 0,
        sleepMs,
        path,
      });
      // adaptive forgets its state after (forget + 1) windows: 21 of 200 ms; the log after one window
      const expired = params.kind === "adaptive" ? 4300 : 210;
      await checkRate(paths, params, [
        charge(5),
        charge(2),
        decideOn("one"),
        decideOn("general"),
        { type: "peek", cost: 1, sleepMs: 0, path: "general" },
        { type: "refund", cost: 2, sleepMs: 0 },
        decideOn("one", 90),
        charge(1, 130),
        decideOn("general"),
        decideOn("one", 10),
        charge(4, expired),
        decideOn("general"),
        decideOn("one", 250),
      ]);
    });
  }

  it("a single op on an existing row is decided by its plain statement, without <table>_decide_one", async () => {
    const names = postgresNames(config.schemaName, config.tableName);
    const kinds: RateParams[] = [
      { kind: "token_bucket", intervalMs: 60_000, burst: 2 },
      { kind: "leaky_bucket", intervalMs: 60_000, burst: 2 },
      { kind: "fixed_window", limit: 2, windowMs: 86_400_000 },
      { kind: "sliding_window_counter", limit: 2, windowMs: 86_400_000 },
    ];
    const ops = kinds.map(
      (params): StoreOp => ({ limiterId: "plain-only", key: params.kind, params, cost: 1 }),
    );
    // The first call of each key inserts its row (through decide_one).
    for (const op of ops) expect((await store.decide([op], 0)).allowed).toBe(true);
    await admin.unsafe(`DROP FUNCTION ${names.decideOneFunction}`);
    try {
      for (const op of ops) {
        // The leaky bucket admits a second call only as a reservation (nobody may be queued without one).
        const maxWaitMs = op.params.kind === "leaky_bucket" ? 120_000 : 0;
        expect((await store.decide([op], maxWaitMs)).allowed, op.params.kind).toBe(true);
        expect((await store.decide([op], maxWaitMs)).allowed, op.params.kind).toBe(false);
      }
      // The exact log has no plain statement: it needs the function.
      const log: StoreOp = {
        limiterId: "plain-only",
        key: "log",
        params: { kind: "sliding_window", limit: 2, windowMs: 1000 },
        cost: 1,
      };
      await expect(store.decide([log], 0)).rejects.toThrow();
    } finally {
      await admin.unsafe(decideOneFunctionSql(names));
    }
  });

  it("concurrency: grants and releases agree with src/algorithms", { timeout: 120_000 }, async () => {
    const paramsArb = fc.record({
      kind: fc.constant("concurrency" as const),
      maxConcurrent: fc.integer({ min: 1, max: 3 }),
      leaseMs: fc.integer({ min: 10, max: 60 }),
    });
    const stepArb = fc.record({
      release: fc.boolean(),
      pick: fc.nat(),
      peek: fc.boolean(),
      sleepMs: sleepArb,
    });
    await fc.assert(
      fc.asyncProperty(
        paramsArb,
        fc.array(stepArb, { minLength: 1, maxLength: 25 }),
        async (params, steps) => {
          runs += 1;
          const limiterId = `model-${runs}-cc`;
          const key = "k";
          const p: ConcurrencyParams = params;
          let state: ConcurrencyState | undefined;
          const granted: string[] = [];
          for (const [index, step] of steps.entries()) {
            await sleep(step.sleepMs);
            if (step.release && granted.length > 0) {
              const leaseId = granted[step.pick % granted.length] as string;
              await store.release(limiterId, key, leaseId);
              // Releasing removes the id whatever the time; expiry is applied by the next decision's clock.
              state = releaseLease(state, Number.NEGATIVE_INFINITY, leaseId).state;
              continue;
            }
            const leaseId = `lease-${index}`;
            const op: StoreOp = { limiterId, key, params: p, cost: 1, leaseId };
            if (step.peek) {
              const { result, nowMs } = await peekTimed(store, op);
              const view = peekConcurrency(p, state, nowMs);
              const dryRun = acquireLease(p, state, nowMs, "");
              expectSameResult(
                result,
                { ...view, allowed: dryRun.allowed, retryAfterMs: dryRun.retryAfterMs, waitMs: 0 },
                `#${index} peek`,
              );
              continue;
            }
            const { batch, nowMs } = await decideTimed(store, [op], 0);
            const outcome = acquireLease(p, state, nowMs, leaseId);
            expectSameResult(batch.results[0] as OpResult, outcome, `#${index} acquire`);
            if (outcome.allowed) {
              state = outcome.state;
              granted.push(leaseId);
            }
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("composites: all or nothing, members on one state chained, same as deciding them in order", async () => {
    const fw: RateParams = { kind: "fixed_window", limit: 3, windowMs: 86_400_000 };
    const tb: RateParams = { kind: "token_bucket", intervalMs: 60_000, burst: 2 };
    const a: StoreOp = { limiterId: "composite", key: "a", params: fw, cost: 2 };
    const b: StoreOp = { limiterId: "composite", key: "b", params: tb, cost: 1 };
    let stateA: unknown;
    let stateB: unknown;
    for (let i = 0; i < 4; i++) {
      // `a` twice: the second member sees the first one's consumption.
      const { batch, nowMs } = await decideTimed(store, [a, b, { ...a, cost: 1 }], 0);
      const first = decide(fw, { state: stateA, nowMs, cost: 2, maxWaitMs: 0 });
      const second = decide(tb, { state: stateB, nowMs, cost: 1, maxWaitMs: 0 });
      const third = decide(fw, { state: first.allowed ? first.state : stateA, nowMs, cost: 1, maxWaitMs: 0 });
      expectSameResult(batch.results[0] as OpResult, first, `round ${i} a`);
      expectSameResult(batch.results[1] as OpResult, second, `round ${i} b`);
      expectSameResult(batch.results[2] as OpResult, third, `round ${i} a again`);
      const all = first.allowed && second.allowed && third.allowed;
      expect(batch.allowed).toBe(all);
      if (all) {
        stateA = third.state;
        stateB = second.state;
      }
    }
    // 3 units of `a` per composite, limit 3: only the first composite passes, later ones change nothing.
    const peekA = await store.peek({ ...a, cost: 1 });
    expect(peekA.remaining).toBe(0);
    const peekB = await store.peek(b);
    expect(peekB.remaining).toBe(1);
  });
});
