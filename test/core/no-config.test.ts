/**
 * #14.6: with no config file found, a key that matches nothing says so, and where the search path looked,
 * instead of only `No limiter or template matches the key "x"`.
 */

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { close, RateSync, tryAcquire, UnknownLimiterError } from "../../src/index.ts";
import { removeDir, tempDir } from "../reload/files.ts";

const dir = tempDir();
const saved = process.env.RATE_SYNC_CONFIG;
afterAll(() => {
  removeDir(dir);
  if (saved !== undefined) process.env.RATE_SYNC_CONFIG = saved;
});
afterEach(async () => {
  await close();
  vi.restoreAllMocks();
});

function inEmptyDirectory(): void {
  delete process.env.RATE_SYNC_CONFIG;
  vi.spyOn(process, "cwd").mockReturnValue(dir);
}

const expected = () =>
  `No limiter or template matches the key "x": no config file was found (RATE_SYNC_CONFIG is not set; looked for ${join(dir, "rate-sync.toml")}, ${join(dir, "config", "rate-sync.toml")})`;

describe("no config file found", () => {
  it("the module-level API says that no file was found and where it looked", async () => {
    inEmptyDirectory();
    const error = await tryAcquire("x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnknownLimiterError);
    expect((error as Error).message).toBe(expected());
    expect((error as UnknownLimiterError).key).toBe("x");
  });

  it("so does RateSync.fromFile() with no path; a limiter configured in code still works", async () => {
    inEmptyDirectory();
    const rs = await RateSync.fromFile(undefined, { quiet: true });
    await expect(rs.tryAcquire("x")).rejects.toThrow(expected());
    rs.configure("solo", { rate: "1/min" });
    expect((await rs.tryAcquire("solo")).allowed).toBe(true);
    await rs.close();
  });

  it("a file that was found keeps the plain message", async () => {
    const file = join(dir, "rate-sync.toml");
    writeFileSync(file, `[limiters.api]\nrate = "1/s"\n`);
    inEmptyDirectory();
    const rs = await RateSync.fromFile(undefined, { quiet: true });
    expect(rs.file).toBe(file);
    await expect(rs.tryAcquire("x")).rejects.toThrow(/^No limiter or template matches the key "x"$/);
    await rs.close();
  });
});
