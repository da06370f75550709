/**
 * SPEC §4.2: every way a config file is saved in practice (in place, an editor's atomic rename, delete and
 * re-create, a Kubernetes ConfigMap symlink swap) gives exactly one effective reload, whose new limits apply
 * on top of the usage so far — on the memory store and on Redis.
 */

import { afterAll, afterEach, describe, expect, it } from "vitest";
import { RateSync, type ReloadEvent } from "../../src/index.ts";
import { reloadBackends } from "./backends.ts";
import { ConfigFile, removeDir, SAVE_PATTERNS, settle, tempDir, waitFor } from "./files.ts";

const backends = await reloadBackends("watch_patterns");
afterAll(async () => {
  for (const backend of backends) await backend.cleanup();
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function fixedWindow(store: string, limit: number): string {
  return `${store}\n[limiters.api]\nalgorithm = "fixed_window"\nlimit = ${limit}\nwindow = "1h"\n`;
}

async function admitted(rs: RateSync, key: string, tries: number): Promise<number> {
  let allowed = 0;
  for (let i = 0; i < tries; i++) if ((await rs.tryAcquire(key)).allowed) allowed++;
  return allowed;
}

for (const backend of backends) {
  describe(`file watching on ${backend.name}`, () => {
    it.each(SAVE_PATTERNS)("%s: one reload, new limit on top of the usage so far", async (pattern) => {
      const dir = tempDir();
      cleanups.push(() => removeDir(dir));
      const store = backend.storeToml(pattern.replace(/-/g, "_"));
      const file = new ConfigFile(dir, pattern, fixedWindow(store, 2));
      const rs = await RateSync.fromFile(file.path, { watch: true });
      cleanups.push(() => rs.close());
      const events: ReloadEvent[] = [];
      rs.on("reload", (event) => events.push(event));

      expect(await admitted(rs, "api", 3)).toBe(2);
      file.save(fixedWindow(store, 5));
      await waitFor("the reload", () => rs.metrics().reloads >= 1);

      // Same algorithm and window: the two already admitted still count against the raised limit.
      expect(await admitted(rs, "api", 5)).toBe(3);
      expect(events).toEqual([{ added: [], removed: [], changed: ["api"] }]);
      expect(rs.dynamic("api").get()).toMatchObject({ limit: 5 });

      // Late events of the same save (a temp file's unlink, the old ConfigMap directory going) change nothing.
      await settle();
      expect(rs.metrics()).toMatchObject({ reloads: 1, reloadErrors: 0 });
      expect(events).toHaveLength(1);
    });
  });
}

describe("file watching details", () => {
  it("ignores other files in the directory", async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const file = new ConfigFile(dir, "in-place", fixedWindow("", 1));
    const rs = await RateSync.fromFile(file.path, { watch: true });
    cleanups.push(() => rs.close());
    const { writeFileSync } = await import("node:fs");
    writeFileSync(`${dir}/other.toml`, "garbage = [");
    writeFileSync(`${dir}/notes.txt`, "hello");
    await settle();
    expect(rs.metrics()).toMatchObject({ reloads: 0, reloadErrors: 0 });
  });

  it("a save that leaves the config the same in effect emits nothing", async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const file = new ConfigFile(dir, "atomic-rename", fixedWindow("", 1));
    const rs = await RateSync.fromFile(file.path, { watch: true });
    cleanups.push(() => rs.close());
    const events: ReloadEvent[] = [];
    rs.on("reload", (event) => events.push(event));
    // Only a comment and whitespace differ.
    file.save(`# tuned on Monday\n${fixedWindow("", 1)}\n\n`);
    await settle();
    expect(events).toEqual([]);
    // An explicit reload always answers, with nothing changed.
    expect(await rs.reload()).toEqual({ added: [], removed: [], changed: [] });
  });

  it("rs.watch() on an instance loaded without watching, idempotent", async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const file = new ConfigFile(dir, "in-place", fixedWindow("", 1));
    const rs = await RateSync.fromFile(file.path);
    cleanups.push(() => rs.close());
    await rs.watch({ debounceMs: 20 });
    await rs.watch();
    file.save(fixedWindow("", 3));
    await waitFor("the reload", () => rs.metrics().reloads >= 1);
    expect(rs.explain("api")?.policy.quota).toBe(3);
  });

  it("watch() needs a file", () => {
    const rs = RateSync.fromConfig({ limiters: { api: { rate: "1/s" } } });
    cleanups.push(() => rs.close());
    expect(() => rs.watch()).toThrow(/needs an instance loaded from a file/);
  });
});
