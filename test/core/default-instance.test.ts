import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  acquire,
  configure,
  getRateSync,
  InvalidArgumentError,
  peek,
  RateLimitExceededError,
  RateSync,
  rateLimited,
  reset,
  run,
  tryAcquire,
} from "../../src/index.ts";

const dir = mkdtempSync(join(tmpdir(), "rate-sync-default-"));
const file = join(dir, "limits.toml");
writeFileSync(
  file,
  `
[limiters."api:<userId>"]
algorithm = "fixed_window"
limit = 2
window = "1h"
timeout = 0
`,
);
process.env.RATE_SYNC_CONFIG = file;

afterAll(async () => {
  await (await getRateSync()).close();
});

describe("the module-level API", () => {
  it("loads the default instance from RATE_SYNC_CONFIG on first use", async () => {
    const lease = await acquire("api:42");
    expect(lease.decision.limiter).toBe("api:<userId>");
    expect((await tryAcquire("api:42")).remaining).toBe(0);
    await expect(acquire("api:42")).rejects.toBeInstanceOf(RateLimitExceededError);
    expect((await peek("api:42")).remaining).toBe(0);
    await reset("api:42");
    expect(await run("api:42", () => "ran")).toBe("ran");
    expect((await getRateSync()).file).toBe(file);
  });

  it("rateLimited fills a template from the first argument's properties", async () => {
    const load = rateLimited("api:<userId>", async ({ userId }: { userId: string }) => `user ${userId}`);
    expect(await load({ userId: "7" })).toBe("user 7");
    expect(await load({ userId: "7" })).toBe("user 7");
    // The limiter's timeout is 0: the third call in the hour is refused at once.
    await expect(load({ userId: "7" })).rejects.toBeInstanceOf(RateLimitExceededError);
    expect(await load({ userId: "8" })).toBe("user 8");
    await expect(load({} as { userId: string })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("rateLimited accepts a key function and a try mode", async () => {
    const send = rateLimited(
      (to: string) => `api:mail-${to}`,
      async (to: string) => to.length,
      { mode: "try" },
    );
    expect(await send("a")).toBe(1);
    expect(await send("a")).toBe(1);
    const error = await send("a").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitExceededError);
    expect((error as RateLimitExceededError).key).toBe("api:mail-a");
  });

  it("configure() replaces the default instance's config", async () => {
    const previous = await getRateSync();
    const next = await configure({ limiters: { solo: { rate: "1/h", burst: 1 } } });
    expect(next).not.toBe(previous);
    expect(await getRateSync()).toBe(next);
    expect((await tryAcquire("solo")).allowed).toBe(true);
    expect((await tryAcquire("solo")).allowed).toBe(false);
    await expect(tryAcquire("api:1")).rejects.toThrow(/No limiter or template matches/);
    const built = RateSync.fromConfig({ limiters: { other: { rate: "1/s" } } });
    await configure(built);
    expect(await getRateSync()).toBe(built);
  });
});
