/**
 * Shutdown (#14.2, #14.1): a script using the module-level API ends by itself. With `await close()` it exits
 * at once on every store; without it, an idle Redis connection never holds it open (its socket is unref'd
 * while no command is in flight), a PostgreSQL pool lets it go once its connections have been idle for
 * `POOL_IDLE_TIMEOUT_S`, and the watch of the default instance never holds it open. Real child processes,
 * real servers.
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { POOL_IDLE_TIMEOUT_S } from "../../src/stores/postgres/postgres-store.ts";
import { requirePostgres, requireRedis, uniqueName } from "../helpers/stores.ts";
import { dropStoreObjects } from "../stores/postgres/setup.ts";
import { deleteByPrefix } from "../stores/redis/setup.ts";
import { runChild } from "./lifecycle/spawn.ts";

const redis = await requireRedis();
const postgres = await requirePostgres();

const dir = mkdtempSync(join(tmpdir(), "rate-sync-shutdown-"));
const prefix = uniqueName("shutdown");
const table = uniqueName("shutdown");

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (redis.available) {
    const raw = new Redis(redis.url);
    await deleteByPrefix(raw, prefix);
    raw.disconnect();
  }
  if (postgres.available) await dropStoreObjects({ schemaName: "public", tableName: table }, postgres.url);
});

/** A config file whose limiter `api:<n>` lives on the given store (declared as `[stores.s]`). */
function configFile(name: string, store: string): string {
  const file = join(dir, `${name}.toml`);
  writeFileSync(
    file,
    `${store}

[limiters."api:<n>"]
store = "s"
algorithm = "fixed_window"
limit = 2
window = "1m"
`,
  );
  return file;
}

const stores = {
  memory: () => configFile("memory", `[stores.s]\nengine = "memory"`),
  redis: () =>
    configFile("redis", `[stores.s]\nengine = "redis"\nurl = "${redis.url}"\nkey_prefix = "${prefix}"`),
  postgres: () =>
    configFile(
      "postgres",
      `[stores.s]\nengine = "postgres"\nurl = "${postgres.url}"\ntable_name = "${table}"\nauto_create = true`,
    ),
};

/** Runs the exit worker on `store` and returns how it ended. */
async function run(store: keyof typeof stores, mode: "close" | "idle", killAfterMs: number) {
  const result = await runChild(
    "./exit-worker.ts",
    [mode, `${store}-${mode}`],
    { RATE_SYNC_CONFIG: stores[store]() },
    killAfterMs,
  );
  // Two keys of limit 2, five calls: four allowed. The calls really went through the store.
  expect(result.stdout, result.stderr).toContain("done 4");
  expect(result.killed, `the process did not exit by itself (stderr: ${result.stderr})`).toBe(false);
  expect(result.code).toBe(0);
  return result;
}

describe("a script on the default instance exits by itself", () => {
  it("memory, watching its file (the default): without close()", { timeout: 30_000 }, async () => {
    const result = await run("memory", "idle", 20_000);
    expect(result.exitAfterDoneMs).toBeLessThan(2_000);
  });

  describe.skipIf(!redis.available)("Redis", () => {
    it("within 2 s of close()", { timeout: 30_000 }, async () => {
      const result = await run("redis", "close", 20_000);
      expect(result.exitAfterDoneMs).toBeLessThan(2_000);
    });

    it("without close(): the idle connection does not hold it", { timeout: 30_000 }, async () => {
      const result = await run("redis", "idle", 20_000);
      expect(result.exitAfterDoneMs).toBeLessThan(2_000);
    });
  });

  describe.skipIf(!postgres.available)("PostgreSQL", () => {
    it("within 2 s of close()", { timeout: 30_000 }, async () => {
      const result = await run("postgres", "close", 20_000);
      expect(result.exitAfterDoneMs).toBeLessThan(2_000);
    });

    it("without close(): once its connections have been idle for the pool's idle timeout", {
      timeout: 60_000,
    }, async () => {
      const result = await run("postgres", "idle", 40_000);
      // The idle timeout, plus room for a loaded machine; before, the pool held the process for a minute.
      expect(result.exitAfterDoneMs).toBeLessThan(POOL_IDLE_TIMEOUT_S * 1_000 + 10_000);
    });
  });
});
