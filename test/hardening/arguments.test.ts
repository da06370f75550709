/**
 * Hostile arguments: costs, timeouts, durations and keys of every wrong kind get a clear error of the right
 * class that names the argument and the value — never a TypeError from deep inside, never a silent default,
 * never a decision that consumed something.
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  ConfigError,
  InvalidArgumentError,
  InvalidKeyError,
  parseDuration,
  RateLimitExceededError,
  RateSync,
  UnknownLimiterError,
} from "../../src/index.ts";

const rs = RateSync.fromToml(
  `
[limiters.tb]
rate = "10/s"

[limiters.fw]
algorithm = "fixed_window"
limit = 5
window = "1h"

[limiters.sw]
algorithm = "sliding_window"
limit = 5
window = "1h"

[limiters.lb]
algorithm = "leaky_bucket"
rate = "10/s"

[limiters.cc]
max_concurrent = 2
`,
  { env: {} },
);
afterAll(() => rs.close());

/** Values that are not a positive finite number, each with how its message must show it. */
const BAD_COSTS: readonly [unknown, string][] = [
  [Number.NaN, "NaN"],
  [Number.POSITIVE_INFINITY, "Infinity"],
  [Number.NEGATIVE_INFINITY, "-Infinity"],
  [-1, "-1"],
  [0, "0"],
  [-0.5, "-0.5"],
  ["1", '"1"'],
  [true, "true"],
  [2n, "2n (a bigint)"],
  [{}, "an object"],
  [[1], "an array"],
  [Object.create(null), "an object"],
  [Symbol("cost"), "a symbol"],
  [() => 1, "a function"],
];

/** Resolves to the error `promise` rejects with, or fails when it resolves. */
async function rejection(run: () => unknown): Promise<Error> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as Error;
  }
  throw new Error("expected a rejection, got a value");
}

describe("cost", () => {
  for (const [cost, shown] of BAD_COSTS) {
    it(`${shown} is refused by tryAcquire, acquire and run with InvalidArgumentError naming "cost"`, async () => {
      for (const call of [
        () => rs.tryAcquire("tb", { cost: cost as number }),
        () => rs.acquire("fw", { cost: cost as number, timeout: 0 }),
        () => rs.run("sw", () => "ran", { cost: cost as number }),
        () => rs.tryAcquire(["tb", "fw"], { cost: cost as number }),
        () => rs.tryAcquireSync("tb", { cost: cost as number }),
        () => rs.tryAcquireSync(["tb", "fw"], { cost: cost as number }),
      ]) {
        const error = await rejection(call);
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect(error.message).toMatch(/\bcost\b/);
        expect(error.message).toContain(shown);
      }
    });
  }

  it("a fractional cost is refused where units are whole (window algorithms, leaky bucket)", async () => {
    for (const key of ["fw", "sw", "lb"]) {
      for (const call of [
        () => rs.tryAcquire(key, { cost: 0.5 }),
        () => rs.tryAcquireSync(key, { cost: 0.5 }),
      ]) {
        const error = await rejection(call);
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect(error.message).toContain(`"${key}"`);
        expect(error.message).toContain("0.5");
      }
    }
    // A token bucket takes fractional costs (SPEC §2.5).
    expect((await rs.tryAcquire("tb", { cost: 0.5 })).allowed).toBe(true);
  });

  it("a huge cost is denied with retryAfterMs = Infinity and consumes nothing; acquire refuses at once", async () => {
    const before = await rs.peek("fw");
    for (const cost of [6, 1e9, Number.MAX_SAFE_INTEGER, 1e300]) {
      const decision = await rs.tryAcquire("fw", { cost });
      expect(decision.allowed).toBe(false);
      expect(decision.retryAfterMs).toBe(Number.POSITIVE_INFINITY);
      const error = await rejection(() => rs.acquire("fw", { cost }));
      expect(error).toBeInstanceOf(RateLimitExceededError);
      expect((error as RateLimitExceededError).retryAfterMs).toBe(Number.POSITIVE_INFINITY);
    }
    expect((await rs.peek("fw")).remaining).toBe(before.remaining);
  });

  it("a bad cost never consumes: the limit is untouched afterwards", async () => {
    const before = await rs.peek("sw");
    for (const [cost] of BAD_COSTS) await rejection(() => rs.tryAcquire("sw", { cost: cost as number }));
    for (const [cost] of BAD_COSTS) await rejection(() => rs.tryAcquireSync("sw", { cost: cost as number }));
    expect((await rs.peek("sw")).remaining).toBe(before.remaining);
  });

  it("tryAcquireSync throws its refusals at once: no promise, rejected or not", () => {
    for (const [cost] of BAD_COSTS) {
      expect(() => rs.tryAcquireSync("tb", { cost: cost as number })).toThrow(InvalidArgumentError);
    }
    expect(() => rs.tryAcquireSync("fw", { cost: 0.5 })).toThrow(InvalidArgumentError);
    expect(() => rs.tryAcquireSync("" as string)).toThrow(InvalidKeyError);
    expect(() => rs.tryAcquireSync([])).toThrow(InvalidKeyError);
    expect(() => rs.tryAcquireSync(42 as unknown as string)).toThrow(InvalidKeyError);
    expect(() => rs.tryAcquireSync("nothing-matches-this")).toThrow(UnknownLimiterError);
  });
});

describe("timeout and durations", () => {
  const BAD_DURATIONS: readonly [unknown, string][] = [
    [Number.NaN, "NaN"],
    [Number.POSITIVE_INFINITY, "Infinity"],
    [-1, "-1"],
    [-0.001, "-0.001"],
    ["", '""'],
    ["abc", '"abc"'],
    ["-5s", '"-5s"'],
    ["5 parsecs", '"5 parsecs"'],
    ["1e400s", '"1e400s"'],
    ["Infinity", '"Infinity"'],
    ["NaN", '"NaN"'],
    ["1s; DROP TABLE x", "DROP TABLE"],
    [true, "true"],
    [{}, "an object"],
    [Object.create(null), "an object"],
    [[5], "an array"],
    [Symbol("t"), "a symbol"],
  ];

  for (const [value, shown] of BAD_DURATIONS) {
    it(`parseDuration(${shown}) throws InvalidArgumentError naming the value`, () => {
      let thrown: unknown;
      try {
        parseDuration(value as string);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidArgumentError);
      expect((thrown as Error).message).toContain("duration");
      expect((thrown as Error).message).toContain(shown);
    });

    it(`acquire/run with timeout ${shown} reject with InvalidArgumentError naming "timeout"`, async () => {
      const before = await rs.peek("fw");
      for (const call of [
        () => rs.acquire("fw", { timeout: value as string }),
        () => rs.run("fw", () => "ran", { timeout: value as string }),
      ]) {
        const error = await rejection(call);
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect(error.message).toMatch(/^timeout: /);
        expect(error.message).toContain(shown);
      }
      // Nothing was taken before the timeout was looked at.
      expect((await rs.peek("fw")).remaining).toBe(before.remaining);
    });
  }

  it("accepts the documented forms, zero and a huge finite timeout", async () => {
    expect(parseDuration(0)).toBe(0);
    expect(parseDuration("250ms")).toBe(250);
    expect(parseDuration(" 1.5 s ")).toBe(1500);
    expect(parseDuration("30")).toBe(30_000);
    await (await rs.acquire("tb", { timeout: 1e300 })).release();
    await (await rs.acquire("tb", { timeout: null })).release();
  });
});

describe("keys", () => {
  const BAD_KEYS: readonly [unknown, RegExp][] = [
    ["", /empty/],
    [undefined, /string, got undefined/],
    [null, /string, got null/],
    [42, /string, got number/],
    [Symbol("k"), /string, got symbol/],
    [{ toString: () => "tb" }, /string, got object/],
    [Object.create(null), /string, got object/],
    [[], /at least one key/],
    [["tb", 1], /string, got number/],
    ["k".repeat(1025), /at most 1024 bytes/],
    // 342 three-byte characters: 1026 bytes in UTF-8 but only 342 UTF-16 code units.
    ["語".repeat(342), /at most 1024 bytes.*1026 bytes/],
  ];

  for (const [key, message] of BAD_KEYS) {
    it(`${typeof key === "symbol" ? "a symbol" : JSON.stringify(key)?.slice(0, 24)} → InvalidKeyError`, async () => {
      for (const call of [
        () => rs.tryAcquire(key as string),
        () => rs.tryAcquireSync(key as string),
        () => rs.acquire(key as string, { timeout: 0 }),
        () => rs.run(key as string, () => "ran"),
        () => rs.peek(key as string),
        () => rs.reset(key as string),
      ]) {
        const error = await rejection(call);
        expect(error).toBeInstanceOf(InvalidKeyError);
        // peek and reset take a single key, so an array is refused as "not a string" there.
        expect(error.message).toMatch(
          Array.isArray(key) ? new RegExp(`${message.source}|string, got object`) : message,
        );
      }
    });
  }

  it("peek and reset take one key, not a composite", async () => {
    for (const call of [() => rs.peek(["tb", "fw"] as never), () => rs.reset(["tb", "fw"] as never)]) {
      const error = await rejection(call);
      expect(error).toBeInstanceOf(InvalidKeyError);
    }
  });

  it("a key of exactly 1 KiB of UTF-8 is accepted", async () => {
    const key = `tb:${"é".repeat(510)}`; // 3 + 1020 bytes
    expect(Buffer.byteLength(key)).toBeLessThanOrEqual(1024);
    expect((await rs.tryAcquire(key)).allowed).toBe(true);
  });
});

describe("DynamicConfig.update", () => {
  const BAD_PATCHES: readonly [string, Record<string, unknown>, string, RegExp][] = [
    ["tb", { rate: "abc" }, "limiters.tb.rate", /invalid rate "abc"/],
    ["tb", { rate: Number.POSITIVE_INFINITY }, "limiters.tb.rate", /Infinity/],
    ["tb", { burst: Number.NaN }, "limiters.tb.burst", /NaN/],
    ["tb", { burst: -1 }, "limiters.tb.burst", /positive/],
    ["tb", { burst: 1.5 }, "limiters.tb.burst", /whole number/],
    ["tb", { burst: "many" }, "limiters.tb.burst", /number/],
    ["tb", { limit: 5 }, "limiters.tb.limit", /./],
    ["tb", { __proto__: { rate: "1/s" }, nonsense: 1 }, "limiters.tb.nonsense", /unknown key/],
    ["fw", { limit: 2.5 }, "limiters.fw.limit", /whole number/],
    ["fw", { limit: 0 }, "limiters.fw.limit", /positive/],
    ["fw", { window: -1 }, "limiters.fw.window", /-1/],
    ["fw", { window: Number.NaN }, "limiters.fw.window", /NaN/],
    ["fw", { window: "forever" }, "limiters.fw.window", /"forever"/],
    ["cc", { max_concurrent: Number.POSITIVE_INFINITY }, "limiters.cc.max_concurrent", /Infinity/],
    ["cc", { lease: "-1s" }, "limiters.cc.lease", /"-1s"/],
    ["tb", { timeout: Number.NaN }, "limiters.tb.timeout", /NaN/],
    ["tb", { store: "nowhere" }, "limiters.tb.store", /nowhere/],
  ];

  for (const [id, patch, path, message] of BAD_PATCHES) {
    it(`${id}.update(${JSON.stringify(patch)}) throws ConfigError at ${path} and changes nothing`, async () => {
      const dynamic = rs.dynamic(id);
      const before = dynamic.get();
      const peekBefore = await rs.peek(id);
      let thrown: unknown;
      try {
        dynamic.update(patch);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(ConfigError);
      const issue = (thrown as ConfigError).issues.find((i) => i.path === path);
      expect(issue, (thrown as Error).message).toBeDefined();
      expect(issue?.message).toMatch(message);
      expect(dynamic.get()).toBe(before);
      expect((await rs.peek(id)).limit).toBe(peekBefore.limit);
    });
  }

  it('a patch with an own "__proto__" key is refused naming it, and pollutes nothing', () => {
    const dynamic = rs.dynamic("tb");
    const before = dynamic.get();
    const patch = JSON.parse('{"__proto__": {"burst": 1}, "rate": "20/s"}') as Record<string, unknown>;
    let thrown: unknown;
    try {
      dynamic.update(patch);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).issues.map((i) => i.path)).toContain("limiters.tb.__proto__");
    expect(dynamic.get()).toBe(before);
    expect(({} as Record<string, unknown>).burst).toBeUndefined();
  });
});

describe("costs too small for the stores' arithmetic (#13)", () => {
  for (const cost of [1e-7, 1e-320, Number.MIN_VALUE]) {
    it(`cost ${cost} is refused by tryAcquire, acquire and run naming "cost" and the smallest cost`, async () => {
      const before = await rs.peek("tb");
      for (const call of [
        () => rs.tryAcquire("tb", { cost }),
        () => rs.tryAcquireSync("tb", { cost }),
        () => rs.acquire("tb", { cost }),
        () => rs.run("tb", () => "ran", { cost }),
      ]) {
        const error = await rejection(call);
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect(error.message).toBe(`cost must be at least 0.000001, got ${cost}`);
      }
      expect((await rs.peek("tb")).remaining).toBe(before.remaining);
    });
  }

  it("the smallest cost itself is accepted", async () => {
    expect((await rs.tryAcquire("tb", { cost: 1e-6 })).allowed).toBe(true);
    await (await rs.acquire("tb", { cost: 1e-6, timeout: 0 })).release();
  });
});

describe("signal (#13)", () => {
  /** Values that are not AbortSignals: the value, how the message shows it, and what the test is called. */
  const NOT_SIGNALS: readonly [unknown, string, string][] = [
    [{}, "an object", "{}"],
    [{ aborted: false }, "an object", "{ aborted: false }"],
    [{ aborted: "no", addEventListener() {}, removeEventListener() {} }, "an object", "a look-alike"],
    [null, "null", "null"],
    [true, "true", "true"],
    ["abort", '"abort"', "a string"],
    [1, "1", "a number"],
    [new AbortController(), "an object", "an AbortController (not its signal)"],
    [() => {}, "a function", "a function"],
  ];

  for (const [signal, shown, label] of NOT_SIGNALS) {
    it(`${label} is refused by acquire, run and a limiter handle`, async () => {
      const before = await rs.peek("cc");
      const options = { signal: signal as AbortSignal };
      for (const call of [
        () => rs.acquire("cc", options),
        () => rs.run("cc", () => "ran", options),
        () => rs.limiter("cc").acquire(options),
        () => rs.limiter("cc").run(() => "ran", options),
      ]) {
        const error = await rejection(call);
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect(error.message).toBe(`signal must be an AbortSignal, got ${shown}`);
      }
      // Refused before anything was taken: no slot is held.
      expect((await rs.peek("cc")).remaining).toBe(before.remaining);
    });
  }

  it("real signals are accepted", async () => {
    const controller = new AbortController();
    await (await rs.acquire("cc", { signal: controller.signal })).release();
    await (await rs.acquire("cc", { signal: AbortSignal.timeout(60_000) })).release();
    expect(await rs.run("cc", () => "ran", { signal: controller.signal })).toBe("ran");
  });

  it("an aborted signal still rejects with its reason", async () => {
    const controller = new AbortController();
    controller.abort(new Error("gone"));
    await expect(rs.acquire("cc", { signal: controller.signal })).rejects.toThrow("gone");
  });
});

describe("watch debounce (#13)", () => {
  it("a debounce longer than a Node timer (which would fire after 1 ms) is refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rate-sync-debounce-"));
    const file = join(dir, "rate-sync.toml");
    writeFileSync(file, '[limiters.a]\nrate = "1/s"\n');
    const watched = await RateSync.fromFile(file);
    try {
      for (const debounceMs of [2 ** 31, 2592e6, 1e300]) {
        expect(() => watched.watch({ debounceMs })).toThrow(
          `debounceMs must be a number from 0 to 2147483647, got ${debounceMs}`,
        );
      }
      await watched.watch({ debounceMs: 2 ** 31 - 1 });
    } finally {
      await watched.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
