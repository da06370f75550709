/**
 * SPEC §4.2 under pressure: many rapid saves end with the last file's limits; reloads racing each other
 * serialize so the last file wins; `close()` leaves no watcher, timer or connection behind; `${ENV}` is
 * re-read on reload.
 */

import { afterAll, afterEach, describe, expect, it } from "vitest";
import { RateSync, type ReloadEvent } from "../../src/index.ts";
import { reloadBackends } from "./backends.ts";
import { ConfigFile, removeDir, type SavePattern, settle, tempDir, waitFor } from "./files.ts";

const backends = await reloadBackends("bursts");
afterAll(async () => {
  for (const backend of backends) await backend.cleanup();
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const limiterToml = (limit: number) =>
  `[limiters.api]\nalgorithm = "fixed_window"\nlimit = ${limit}\nwindow = "1h"\n`;

/** Active handles by type (`FSEvent`, `Timeout`, `TCPWrap`…), to compare before and after an instance. */
function resources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

/** Types whose count grew between `before` and `after`. */
function leaked(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const grown: Record<string, number> = {};
  for (const [type, count] of after) {
    const extra = count - (before.get(type) ?? 0);
    if (extra > 0) grown[type] = extra;
  }
  return grown;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

for (const backend of backends) {
  describe(`bursts on ${backend.name}`, () => {
    it.each<SavePattern>(["in-place", "atomic-rename", "configmap"])(
      "%s: 50 saves in 1 s end with the last file's limits; close() leaves no handles",
      async (pattern) => {
        const dir = tempDir();
        cleanups.push(() => removeDir(dir));
        const store = backend.storeToml(`burst_${pattern.replace(/-/g, "_")}`);
        const before = resources();

        const file = new ConfigFile(dir, pattern, `${store}${limiterToml(1)}`);
        const rs = await RateSync.fromFile(file.path, { watch: true });
        const errors: unknown[] = [];
        rs.on("reloadError", (error) => errors.push(error));
        expect((await rs.tryAcquire("api")).allowed).toBe(true);
        for (let limit = 2; limit <= 51; limit++) {
          file.save(`${store}${limiterToml(limit)}`);
          await sleep(20);
        }
        await waitFor("the last limit", () => rs.explain("api")?.policy.quota === 51);
        await settle();
        expect(rs.explain("api")?.policy.quota).toBe(51);
        expect(errors).toEqual([]);
        // Usage survived every one of those reloads: 1 taken before, so 50 are left of 51.
        let allowed = 0;
        for (let i = 0; i < 51; i++) if ((await rs.tryAcquire("api")).allowed) allowed++;
        expect(allowed).toBe(50);

        await rs.close();
        // chokidar releases its watchers asynchronously within a tick or two of `close()` resolving.
        await waitFor(
          "handles to be released",
          () => Object.keys(leaked(before, resources())).length === 0,
          2_000,
        ).catch(() => {});
        expect(leaked(before, resources())).toEqual({});
      },
    );
  });
}

describe("serialized reloads", () => {
  it("two reloads racing: the last file written wins, events in order", async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const file = new ConfigFile(dir, "in-place", limiterToml(1));
    const rs = await RateSync.fromFile(file.path);
    cleanups.push(() => rs.close());
    const events: ReloadEvent[] = [];
    rs.on("reload", (event) => events.push(event));

    for (let round = 0; round < 20; round++) {
      file.save(limiterToml(100 + round * 2));
      const first = rs.reload();
      file.save(limiterToml(101 + round * 2));
      const second = rs.reload();
      await Promise.all([first, second]);
      expect(rs.explain("api")?.policy.quota).toBe(101 + round * 2);
    }
  });

  it.each<SavePattern>(["in-place", "atomic-rename"])(
    "%s: the second of two saves 15 ms apart is never lost",
    async (pattern) => {
      // chokidar throttles `change` events per path (50 ms) without a trailing event: the watcher must not
      // depend on them alone.
      const dir = tempDir();
      cleanups.push(() => removeDir(dir));
      const file = new ConfigFile(dir, pattern, limiterToml(1));
      const rs = await RateSync.fromFile(file.path, { watch: true, debounceMs: 10 });
      cleanups.push(() => rs.close());
      for (let round = 1; round <= 8; round++) {
        file.save(limiterToml(round * 10));
        await sleep(15);
        file.save(limiterToml(round * 10 + 1));
        await waitFor(`limit ${round * 10 + 1}`, () => rs.explain("api")?.policy.quota === round * 10 + 1);
      }
    },
  );

  it("a save while a reload is being applied is not lost", async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const file = new ConfigFile(dir, "atomic-rename", limiterToml(1));
    const rs = await RateSync.fromFile(file.path, { watch: true, debounceMs: 10 });
    cleanups.push(() => rs.close());
    // A slow `reload` listener keeps each reload busy while saves keep coming.
    rs.on("reload", () => {
      const until = Date.now() + 30;
      while (Date.now() < until) {}
    });
    for (let limit = 2; limit <= 10; limit++) {
      file.save(limiterToml(limit));
      await sleep(15);
    }
    await waitFor("the last limit", () => rs.explain("api")?.policy.quota === 10);
  });
});

describe("environment on reload", () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a ${VAR} reference in TOML on purpose
  const text = '[limiters.api]\nalgorithm = "fixed_window"\nlimit = "${RELOAD_TEST_LIMIT}"\nwindow = "1h"\n';

  it("re-reads process.env at reload time when no env was given", async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    process.env.RELOAD_TEST_LIMIT = "2";
    cleanups.push(() => {
      delete process.env.RELOAD_TEST_LIMIT;
    });
    const file = new ConfigFile(dir, "in-place", text);
    const rs = await RateSync.fromFile(file.path);
    cleanups.push(() => rs.close());
    expect(rs.explain("api")?.policy.quota).toBe(2);
    process.env.RELOAD_TEST_LIMIT = "7";
    expect(await rs.reload()).toEqual({ added: [], removed: [], changed: ["api"] });
    expect(rs.explain("api")?.policy.quota).toBe(7);
  });

  it("reads the env given at construction (as it is at reload time), not process.env", async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const env: Record<string, string | undefined> = { RELOAD_TEST_LIMIT: "3" };
    const file = new ConfigFile(dir, "in-place", text);
    const rs = await RateSync.fromFile(file.path, { env });
    cleanups.push(() => rs.close());
    env.RELOAD_TEST_LIMIT = "4";
    await rs.reload();
    expect(rs.explain("api")?.policy.quota).toBe(4);
    delete env.RELOAD_TEST_LIMIT;
    await expect(rs.reload()).rejects.toThrow(/RELOAD_TEST_LIMIT/);
    expect(rs.explain("api")?.policy.quota).toBe(4);
  });
});
