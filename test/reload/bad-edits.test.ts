/**
 * SPEC §4.2: an invalid file never touches the running config. The old limits keep working, `reloadError`
 * carries the `ConfigError`, and the next valid save applies normally — through the watcher and `reload()`.
 */

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, RateSync } from "../../src/index.ts";
import { ConfigFile, removeDir, tempDir, waitFor } from "./files.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const GOOD = (limit: number) =>
  `[limiters.api]\nalgorithm = "fixed_window"\nlimit = ${limit}\nwindow = "1h"\n`;

const BAD_EDITS: readonly { name: string; text: string; message: RegExp }[] = [
  { name: "a TOML syntax error", text: `${GOOD(9)}\n[limiters.broken\n`, message: /invalid TOML/ },
  {
    name: "an unknown key",
    text: GOOD(9).replace("limit = 9", "limit = 9\nlimt = 9"),
    message: /limiters\.api\.limt/,
  },
  {
    name: "an unset env var",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a ${VAR} reference in TOML on purpose
    text: GOOD(9).replace("limit = 9", 'limit = "${RATE_SYNC_TEST_UNSET_LIMIT}"'),
    message: /RATE_SYNC_TEST_UNSET_LIMIT/,
  },
];

async function watched(env: Record<string, string | undefined> = {}) {
  const dir = tempDir();
  cleanups.push(() => removeDir(dir));
  const file = new ConfigFile(dir, "atomic-rename", GOOD(1));
  const rs = await RateSync.fromFile(file.path, { watch: true, env });
  cleanups.push(() => rs.close());
  const errors: ConfigError[] = [];
  rs.on("reloadError", (error) => errors.push(error));
  return { rs, file, errors };
}

describe("bad edits", () => {
  it.each(BAD_EDITS)(
    "$name: old limits stay, reloadError, next good edit applies",
    async ({ text, message }) => {
      const { rs, file, errors } = await watched();
      expect((await rs.tryAcquire("api")).allowed).toBe(true);

      file.save(text);
      await waitFor("the reloadError", () => errors.length >= 1);
      expect(errors[0]).toBeInstanceOf(ConfigError);
      expect(errors[0]?.message).toMatch(message);
      expect(rs.metrics()).toMatchObject({ reloads: 0, reloadErrors: 1 });
      // The old limit (1, already used) still holds: nothing of the bad file applied.
      expect((await rs.tryAcquire("api")).allowed).toBe(false);
      expect(rs.explain("api")?.policy.quota).toBe(1);

      file.save(GOOD(3));
      await waitFor("the good reload", () => rs.metrics().reloads >= 1);
      expect(rs.metrics()).toMatchObject({ reloads: 1, reloadErrors: 1 });
      expect((await rs.tryAcquire("api")).allowed).toBe(true);
      expect((await rs.tryAcquire("api")).allowed).toBe(true);
      expect((await rs.tryAcquire("api")).allowed).toBe(false);
    },
  );

  it("reload() rejects with the ConfigError and emits reloadError; nothing changes", async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const file = new ConfigFile(dir, "in-place", GOOD(1));
    const rs = await RateSync.fromFile(file.path);
    cleanups.push(() => rs.close());
    const errors: ConfigError[] = [];
    rs.on("reloadError", (error) => errors.push(error));
    const before = rs.snapshot;

    file.save(`${GOOD(5)}\n[limiters.login]\nalgorithm = "sliding_window"\nlimit = 0\nwindow = "1m"\n`);
    const rejection = await rs.reload().catch((error: unknown) => error);
    expect(rejection).toBeInstanceOf(ConfigError);
    expect(errors).toEqual([rejection]);
    // Not half-applied: `api` (valid in the bad file) keeps its old limit, `login` does not exist.
    expect(rs.snapshot).toBe(before);
    expect(rs.explain("api")?.policy.quota).toBe(1);
    expect(rs.limiterIds()).toEqual(["api"]);
  });

  it("reload() of a deleted file reports it; the limits stay", async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const file = new ConfigFile(dir, "in-place", GOOD(2));
    const rs = await RateSync.fromFile(file.path);
    cleanups.push(() => rs.close());
    removeDir(dir);
    await expect(rs.reload()).rejects.toThrow(/does not exist/);
    expect((await rs.tryAcquire("api")).allowed).toBe(true);
  });

  it("a limiter configured in code whose store the new file drops makes the reload invalid", async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const withCache = `[stores.main]\nengine = "memory"\n[stores.cache]\nengine = "memory"\n[defaults]\nstore = "main"\n${GOOD(1)}`;
    const file = new ConfigFile(dir, "in-place", withCache);
    const rs = await RateSync.fromFile(file.path);
    cleanups.push(() => rs.close());
    rs.configure("sessions", { store: "cache", rate: "10/s" });

    file.save(`[stores.main]\nengine = "memory"\n[defaults]\nstore = "main"\n${GOOD(4)}`);
    await expect(rs.reload()).rejects.toThrow(/unknown store "cache"/);
    expect(rs.explain("api")?.policy.quota).toBe(1);
    expect((await rs.tryAcquire("sessions")).allowed).toBe(true);
  });
});

describe("reload() of an empty file", () => {
  it("keeps the running limits instead of removing them all", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rate-sync-empty-"));
    const file = join(dir, "rate-sync.toml");
    writeFileSync(file, '[limiters.api]\nrate = "1/h"\nburst = 1\n');
    const rs = await RateSync.fromFile(file);
    const errors: unknown[] = [];
    rs.on("reloadError", (error) => errors.push(error));
    writeFileSync(file, "");
    await expect(rs.reload()).rejects.toThrow(/the file is empty; the running config is kept/);
    expect(errors).toHaveLength(1);
    expect((await rs.tryAcquire("api")).allowed).toBe(true);
    await rs.close();
  });
});
