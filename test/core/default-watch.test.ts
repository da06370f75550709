/**
 * #14.1: the module-level API hot-reloads. The default instance watches the file it loaded (found through
 * `RATE_SYNC_CONFIG` here, as the search path would), so an edit from 2/min to 10/min is seen by
 * `tryAcquire` without a restart; `configure(path, { watch: false })` and `RATE_SYNC_WATCH=0` turn that off.
 * A child process on the default instance exiting by itself (the watch never holds it) is in shutdown.test.ts.
 */

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { close, configure, getRateSync, RateSync, tryAcquire } from "../../src/index.ts";
import { removeDir, tempDir, waitFor } from "../reload/files.ts";

const dir = tempDir();
afterAll(() => removeDir(dir));
afterEach(async () => {
  await close();
  delete process.env.RATE_SYNC_WATCH;
  delete process.env.RATE_SYNC_CONFIG;
});

const limits = (perMinute: number) =>
  `[limiters."api:<n>"]\nalgorithm = "fixed_window"\nlimit = ${perMinute}\nwindow = "1m"\n`;

/** Allowed calls out of `calls` on a fresh key. */
async function admitted(key: string, calls: number): Promise<number> {
  let allowed = 0;
  for (let i = 0; i < calls; i++) if ((await tryAcquire(key)).allowed) allowed++;
  return allowed;
}

describe("the default instance watches its file", () => {
  it("an edit from 2/min to 10/min applies to the module-level API", { timeout: 20_000 }, async () => {
    const file = join(dir, "watched.toml");
    writeFileSync(file, limits(2));
    process.env.RATE_SYNC_CONFIG = file;
    expect(await admitted("api:a", 5)).toBe(2);

    writeFileSync(file, limits(10));
    // Bounded wait for the watcher (no timing asserted); the next key's window sees the new limit.
    const rs = await getRateSync();
    await waitFor("the default instance to reload", () => rs.metrics().reloads >= 1, 15_000);
    expect(await admitted("api:b", 12)).toBe(10);
    // The key used before keeps its usage (2) under the new limit of 10.
    expect(await admitted("api:a", 10)).toBe(8);
  });

  it("configure(path) watches too; configure(path, { watch: false }) and RATE_SYNC_WATCH=0 do not", {
    timeout: 20_000,
  }, async () => {
    for (const off of ["option", "env", "on"] as const) {
      const file = join(dir, `configured-${off}.toml`);
      writeFileSync(file, limits(2));
      if (off === "env") process.env.RATE_SYNC_WATCH = "0";
      const rs = await configure(file, off === "option" ? { watch: false } : {});
      // A second instance watching the same file shows when the change has been seen.
      const witness = await RateSync.fromFile(file, { watch: true });
      writeFileSync(file, limits(10));
      await waitFor("the witness to reload", () => witness.metrics().reloads >= 1, 15_000);
      await witness.close();
      if (off === "on") {
        await waitFor("the default instance to reload", () => rs.metrics().reloads >= 1, 15_000);
        expect(await admitted("api:on", 12)).toBe(10);
      } else {
        // Given time to apply, had it been watching: the default instance still has the old limit.
        await new Promise((resolve) => setTimeout(resolve, 500));
        expect(rs.metrics().reloads).toBe(0);
        expect(await admitted(`api:${off}`, 5)).toBe(2);
      }
      delete process.env.RATE_SYNC_WATCH;
    }
  });
});
