/**
 * SPEC §4.2: what a reload does to the usage so far. Same algorithm and window → usage kept (a raised limit
 * lets more in at once, a lowered one blocks at once); another algorithm or window → that limiter starts fresh.
 * Clones of a template follow on their next call. Removed limiters answer UnknownLimiterError while leases
 * already held still release. On the memory store and on Redis.
 */

import { afterAll, afterEach, describe, expect, it } from "vitest";
import { RateSync, UnknownLimiterError } from "../../src/index.ts";
import { reloadBackends } from "./backends.ts";
import { ConfigFile, removeDir, tempDir } from "./files.ts";

const backends = await reloadBackends("state");
afterAll(async () => {
  for (const backend of backends) await backend.cleanup();
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let namespaces = 0;

async function admitted(rs: RateSync, key: string, tries: number): Promise<number> {
  let allowed = 0;
  for (let i = 0; i < tries; i++) if ((await rs.tryAcquire(key)).allowed) allowed++;
  return allowed;
}

for (const backend of backends) {
  describe(`reload semantics on ${backend.name}`, () => {
    /** An instance on a file whose limiters are `limiters` (TOML below the store table); `edit` reloads. */
    async function setup(limiters: string) {
      const dir = tempDir();
      cleanups.push(() => removeDir(dir));
      const store = backend.storeToml(`ns${++namespaces}`);
      const file = new ConfigFile(dir, "in-place", `${store}${limiters}`);
      const rs = await RateSync.fromFile(file.path);
      cleanups.push(() => rs.close());
      const edit = (next: string) => {
        file.save(`${store}${next}`);
        return rs.reload();
      };
      return { rs, edit };
    }

    const window = (algorithm: string, limit: number, span = "1h") =>
      `[limiters.api]\nalgorithm = "${algorithm}"\nlimit = ${limit}\nwindow = "${span}"\n`;

    it.each(["fixed_window", "sliding_window", "sliding_window_counter"])(
      "%s: lowering blocks at once, raising admits more at once",
      async (algorithm) => {
        const { rs, edit } = await setup(window(algorithm, 5));
        expect(await admitted(rs, "api", 3)).toBe(3);
        expect(await edit(window(algorithm, 2))).toEqual({ added: [], removed: [], changed: ["api"] });
        expect(await admitted(rs, "api", 2)).toBe(0);
        await edit(window(algorithm, 6));
        expect(await admitted(rs, "api", 5)).toBe(3);
      },
    );

    it("token bucket: burst raised lets more in, lowered blocks, usage kept across a rate change", async () => {
      const bucket = (rate: string, burst: number) => `[limiters.api]\nrate = "${rate}"\nburst = ${burst}\n`;
      const { rs, edit } = await setup(bucket("1/h", 2));
      expect(await admitted(rs, "api", 3)).toBe(2);
      await edit(bucket("1/h", 5));
      expect(await admitted(rs, "api", 5)).toBe(3);
      // A faster rate keeps the bucket's state (one timestamp): the five already taken still count.
      await edit(bucket("2/h", 5));
      expect(await admitted(rs, "api", 1)).toBe(0);
      await edit(bucket("2/h", 1));
      expect(await admitted(rs, "api", 1)).toBe(0);
    });

    it("another algorithm or another window starts fresh", async () => {
      const { rs, edit } = await setup(window("fixed_window", 2));
      expect(await admitted(rs, "api", 3)).toBe(2);
      await edit(window("sliding_window", 2));
      expect(await admitted(rs, "api", 3)).toBe(2);
      await edit(window("sliding_window", 2, "2h"));
      expect(await admitted(rs, "api", 3)).toBe(2);
    });

    it("clones of a template follow the template on their next call", async () => {
      const template = (limit: number) =>
        `[limiters."tenant:<id>"]\nalgorithm = "fixed_window"\nlimit = ${limit}\nwindow = "1h"\n`;
      const { rs, edit } = await setup(template(1));
      const acme = rs.limiter("tenant:acme");
      expect((await acme.tryAcquire()).allowed).toBe(true);
      expect((await acme.tryAcquire()).allowed).toBe(false);
      expect(await edit(template(3))).toEqual({ added: [], removed: [], changed: ["tenant:<id>"] });
      // The handle made before the reload reads the new limit; its usage (1) is kept.
      expect(await admitted(rs, "tenant:acme", 3)).toBe(2);
      expect(await admitted(rs, "tenant:other", 4)).toBe(3);
    });

    it("added and removed limiters; a held lease still releases after its limiter is gone", async () => {
      const upload = '[limiters.upload]\nmax_concurrent = 1\nlease = "1m"\n';
      const api = window("fixed_window", 1);
      const { rs, edit } = await setup(`${api}${upload}`);
      const lease = await rs.acquire("upload", { timeout: 0 });
      expect((await rs.tryAcquire("upload")).allowed).toBe(false);

      expect(await edit(api)).toEqual({ added: [], removed: ["upload"], changed: [] });
      await expect(rs.acquire("upload", { timeout: 0 })).rejects.toBeInstanceOf(UnknownLimiterError);
      await expect(rs.tryAcquire("upload")).rejects.toBeInstanceOf(UnknownLimiterError);
      expect(() => rs.dynamic("upload")).toThrow(UnknownLimiterError);
      await lease.release();

      // Back again: its only slot is free, so the release above really reached the store.
      expect(await edit(`${api}${upload}`)).toEqual({ added: ["upload"], removed: [], changed: [] });
      const again = await rs.tryAcquire("upload");
      expect(again.allowed).toBe(true);
      await again.lease?.release();
    });
  });
}

describe("reload and the store", () => {
  it("a changed memory store keeps its state (it has no connection to renew)", async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const limiter = '[limiters.api]\nalgorithm = "fixed_window"\nlimit = 2\nwindow = "1h"\n';
    const file = new ConfigFile(dir, "in-place", `[stores.main]\nengine = "memory"\n${limiter}`);
    const rs = await RateSync.fromFile(file.path);
    cleanups.push(() => rs.close());
    expect(await admitted(rs, "api", 2)).toBe(2);
    file.save(`[stores.main]\nengine = "memory"\nmax_keys = 5000\n${limiter}`);
    await rs.reload();
    expect(await admitted(rs, "api", 1)).toBe(0);
  });

  const redis = backends.find((b) => b.name === "redis");
  it.skipIf(!redis)(
    "a changed Redis store: same prefix keeps the usage, another prefix starts fresh",
    async () => {
      if (!redis) return;
      const dir = tempDir();
      cleanups.push(() => removeDir(dir));
      const store = redis.storeToml("store_change");
      const limiter = '[limiters.api]\nalgorithm = "fixed_window"\nlimit = 2\nwindow = "1h"\n';
      const file = new ConfigFile(dir, "in-place", `${store}${limiter}`);
      const rs = await RateSync.fromFile(file.path);
      cleanups.push(() => rs.close());
      expect(await admitted(rs, "api", 2)).toBe(2);

      // Same server and prefix, another pool size: a new connection, and the state (in Redis) is still there.
      file.save(`${store}pool_max_size = 3\n${limiter}`);
      expect(await rs.reload()).toEqual({ added: [], removed: [], changed: [] });
      expect(await admitted(rs, "api", 1)).toBe(0);

      // Another prefix is another namespace: fresh state.
      file.save(`${store.replace(/key_prefix = "([^"]+)"/, 'key_prefix = "$1_moved"')}${limiter}`);
      await rs.reload();
      expect(await admitted(rs, "api", 3)).toBe(2);
    },
  );
});
