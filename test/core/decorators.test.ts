/**
 * `@rateLimited(key, options)`: one decorator for both flavours. The decorated fixture is compiled and run in a
 * child process twice — as standard (TC39) decorators (tsconfig.test.json) and with `experimentalDecorators:
 * true` (decorators/tsconfig.legacy.json, as NestJS and TypeORM projects compile) — since the test runner's
 * own transform leaves decorator syntax to Node, which has none. The type-level tests
 * (decorators/decorator-types.ts) are compiled in both modes too. The decorator's detection of its flavour and
 * its errors are tested here by calling it as each compiler would.
 */

import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError, RateLimitExceededError, RateSync, rateLimited } from "../../src/index.ts";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const fixture = resolve(import.meta.dirname, "decorators/service.fixture.ts");
const legacyConfig = resolve(import.meta.dirname, "decorators/tsconfig.legacy.json");

/** Runs the fixture with tsx under a tsconfig (which decides the decorator flavour); its JSON output. */
async function runFixture(tsconfig: string): Promise<unknown> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", fixture], {
    cwd: root,
    env: { ...process.env, TSX_TSCONFIG_PATH: tsconfig },
  });
  return JSON.parse(stdout);
}

/** What the fixture's calls do, in either flavour. */
const expected = {
  fetch: [
    { value: "user 42 of acme" },
    { denied: "api:42", limiter: "api:<userId>" },
    { value: "user 7 of acme" },
    { error: 'rateLimited("api:<userId>"): the first argument must have a value for every placeholder' },
  ],
  // The key function reads `this.tenant`: acme's third call is denied, another instance has its own key.
  double: [{ value: 2 }, { value: 4 }, { denied: "tenant:acme", limiter: "tenant:<id>" }, { value: 8 }],
  // Wait mode on a concurrency limit of 1: the second call starts after the first ends.
  jobs: ["a", "b"],
  events: ["start a", "end a", "start b", "end b"],
  static: [{ value: "static s" }, { denied: "api:s", limiter: "api:<userId>" }],
};

const limits = {
  stores: { main: { engine: "memory" } },
  limiters: { "api:<userId>": { algorithm: "fixed_window", limit: 1, window: "1h" } },
};

describe("@rateLimited", () => {
  it("as a standard (TC39) decorator: templates, key functions with this, try and wait modes, statics", async () => {
    expect(await runFixture(resolve(root, "tsconfig.test.json"))).toEqual({
      flavour: "standard",
      ...expected,
    });
  }, 60_000);

  it("under experimentalDecorators: the type-level tests compile, and the same class behaves the same", async () => {
    const tsc = resolve(root, "node_modules/typescript/bin/tsc");
    // Exit 0 means every valid use compiles and every `@ts-expect-error` line is an error in this mode too.
    const compiled = await run(process.execPath, [tsc, "-p", legacyConfig, "--noEmit"], { cwd: root }).then(
      () => ({ code: 0, stdout: "" }),
      (error: { code: number; stdout: string }) => error,
    );
    expect(compiled).toEqual({ code: 0, stdout: "" });
    expect(await runFixture(legacyConfig)).toEqual({ flavour: "legacy", ...expected });
  }, 60_000);

  it("tells the flavours apart by their arguments, called as each compiler calls it", async () => {
    const rs = RateSync.fromConfig(limits, { quiet: true });
    try {
      const decorate = rateLimited("api:<userId>", { mode: "try", rateSync: rs });
      const method = async function (this: { name: string }, _args: { userId: string }) {
        return this.name;
      };
      const context = { kind: "method", name: "load" } as ClassMethodDecoratorContext<
        { name: string },
        typeof method
      >;
      const standard = decorate(method, context);
      expect(await standard.call({ name: "standard" }, { userId: "1" })).toBe("standard");
      await expect(standard.call({ name: "standard" }, { userId: "1" })).rejects.toBeInstanceOf(
        RateLimitExceededError,
      );

      const descriptor: TypedPropertyDescriptor<typeof method> = { value: method, writable: true };
      const returned = decorate({}, "load", descriptor);
      expect(returned).toBe(descriptor);
      expect(descriptor.value).not.toBe(method);
      expect(await descriptor.value!.call({ name: "legacy" }, { userId: "2" })).toBe("legacy");
      await expect(descriptor.value!.call({ name: "legacy" }, { userId: "2" })).rejects.toBeInstanceOf(
        RateLimitExceededError,
      );
    } finally {
      await rs.close();
    }
  });

  it("refuses what is not a method, and a bad mode where the decorator is written", () => {
    const decorate = rateLimited("fixed") as unknown as (...args: unknown[]) => unknown;
    expect(() => decorate(undefined, { kind: "field", name: "count" })).toThrow(
      new InvalidArgumentError('@rateLimited("fixed") applies to methods, not to the field count'),
    );
    expect(() => decorate(() => 1, { kind: "getter", name: "size" })).toThrow(/not to the getter size/);
    expect(() => decorate({}, "size", { get: () => 1 })).toThrow(
      '@rateLimited("fixed") applies to methods, not to size (no method value)',
    );
    expect(() => rateLimited("fixed", { mode: "later" as "try" })).toThrow(
      'rateLimited: mode must be "wait" or "try", got "later"',
    );
    expect(() => rateLimited(42 as unknown as string, {})).toThrow(/the key must be a string/);
  });
});

describe("the rateLimited wrapper", () => {
  it("passes its this on to the function and to a key function", async () => {
    const rs = RateSync.fromConfig(limits, { quiet: true });
    try {
      const service = {
        userId: "9",
        load: rateLimited(
          function (this: { userId: string }) {
            return `api:${this.userId}`;
          },
          async function (this: { userId: string }) {
            return `loaded ${this.userId}`;
          },
          { mode: "try", rateSync: rs },
        ),
      };
      expect(await service.load()).toBe("loaded 9");
      await expect(service.load()).rejects.toMatchObject({ key: "api:9" });
    } finally {
      await rs.close();
    }
  });

  it("takes its instance from a function of this", async () => {
    const rs = RateSync.fromConfig(limits, { quiet: true });
    try {
      const holder = {
        rs,
        call: rateLimited("api:<userId>", async (_: { userId: string }) => "ok", {
          mode: "try",
          rateSync: (self) => (self as { rs: RateSync }).rs,
        }),
      };
      expect(await holder.call({ userId: "h" })).toBe("ok");
      expect((await rs.peek("api:h")).remaining).toBe(0);
    } finally {
      await rs.close();
    }
  });
});
