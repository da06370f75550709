/**
 * #14.3: failures nobody listens to are no longer silent. With no listener for the event that reports it, an
 * instance writes one line — to stderr, or to the `logger` option — at most once per distinct problem per
 * minute; `quiet: true` writes nothing. A listener takes over (no line). The Redis case runs on a real client
 * against a port where nothing listens (a URL with a typo), under the default `on_store_error = "allow"`.
 */

import { createServer } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { NOTICE_INTERVAL_MS, Notices } from "../../src/core/notices.ts";
import { type NoticeLogger, RateSync } from "../../src/index.ts";
import { ConfigFile, removeDir, tempDir } from "../reload/files.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vi.restoreAllMocks();
});

/** Lines this process writes to stderr from now on (still written through, so a failing test shows them). */
function captureStderr(): string[] {
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  vi.spyOn(process.stderr, "write").mockImplementation(((chunk: string | Uint8Array, ...rest: never[]) => {
    const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    if (text.startsWith("rate-sync: ")) lines.push(...text.trimEnd().split("\n"));
    return write(chunk, ...rest);
  }) as typeof process.stderr.write);
  return lines;
}

/** A logger that records what it gets. */
function recordingLogger(): NoticeLogger & { readonly lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  return {
    lines,
    warn: (message: string) => lines.push({ level: "warn", message }),
    error: (message: string) => lines.push({ level: "error", message }),
  };
}

/** A TCP port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const GOOD = `[limiters.api]\nalgorithm = "fixed_window"\nlimit = 1\nwindow = "1h"\n`;
const BAD = `${GOOD}limt = 2\n`;

async function fileInstance(options: ConstructorParameters<typeof Notices>[0] = {}) {
  const dir = tempDir();
  cleanups.push(() => removeDir(dir));
  const file = new ConfigFile(dir, "atomic-rename", GOOD);
  const rs = await RateSync.fromFile(file.path, options);
  cleanups.push(() => rs.close());
  return { rs, file };
}

describe("a rejected reload nobody listens to", () => {
  it("writes one line to stderr, once per distinct error per minute", async () => {
    const lines = captureStderr();
    const { rs, file } = await fileInstance();
    file.save(BAD);
    await expect(rs.reload()).rejects.toThrow(/limt/);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^rate-sync: a config change was rejected and the running config is kept: .*limiters\.api\.limt/,
    );
    // The same error again within the minute: nothing more; a different one: its own line.
    await expect(rs.reload()).rejects.toThrow(/limt/);
    expect(lines).toHaveLength(1);
    file.save(`${GOOD}lmit = 2\n`);
    await expect(rs.reload()).rejects.toThrow(/lmit/);
    expect(lines).toHaveLength(2);
    // The running config is untouched.
    expect((await rs.tryAcquire("api")).allowed).toBe(true);
  });

  it("writes nothing when a reloadError listener is there", async () => {
    const lines = captureStderr();
    const { rs, file } = await fileInstance();
    const heard: string[] = [];
    rs.on("reloadError", (error) => heard.push(error.message));
    file.save(BAD);
    await expect(rs.reload()).rejects.toThrow(/limt/);
    expect(heard).toHaveLength(1);
    expect(lines).toEqual([]);
  });

  it("goes to the logger option instead of stderr, and nowhere with quiet", async () => {
    const lines = captureStderr();
    const logger = recordingLogger();
    const logged = await fileInstance({ logger });
    logged.file.save(BAD);
    await expect(logged.rs.reload()).rejects.toThrow();
    expect(logger.lines).toEqual([{ level: "error", message: expect.stringMatching(/^rate-sync: .*limt/) }]);

    const quiet = await fileInstance({ quiet: true, logger });
    quiet.file.save(BAD);
    await expect(quiet.rs.reload()).rejects.toThrow();
    expect(logger.lines).toHaveLength(1);
    expect(lines).toEqual([]);
  });
});

describe("a Redis store that cannot connect, under the default on_store_error = allow", () => {
  async function typoInstance(options: ConstructorParameters<typeof Notices>[0] = {}) {
    const port = await freePort();
    const rs = RateSync.fromConfig(
      {
        stores: { main: { engine: "redis", url: `redis://app:s3cret@127.0.0.1:${port}`, timeout: "200ms" } },
        limiters: { api: { store: "main", rate: "1/min", burst: 1 } },
      },
      options,
    );
    cleanups.push(() => rs.close());
    return { rs, port };
  }

  it("writes a line naming the store (secret masked) and the effect, not one per call", async () => {
    const lines = captureStderr();
    const { rs, port } = await typoInstance();
    let allowed = 0;
    for (let i = 0; i < 20; i++) if ((await rs.tryAcquire("api")).allowed) allowed++;
    // What the issue saw: 20 of 20 through a 1/min limit. Now it is said, once for the outage (the refused
    // connection, the timeouts and the breaker that then opens are one problem of one store).
    expect(allowed).toBe(20);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(
      `rate-sync: store "main" (redis, redis://app:****@127.0.0.1:${port}) is failing: `,
    );
    expect(lines[0]).toContain('on_store_error = "allow": calls are let through unlimited');
    expect(lines.join("\n")).not.toContain("s3cret");
    const before = lines.length;
    for (let i = 0; i < 20; i++) await rs.tryAcquire("api");
    expect(lines).toHaveLength(before);
  });

  it("goes to the logger option, and nowhere with quiet or a storeError listener", async () => {
    const lines = captureStderr();
    const logger = recordingLogger();
    const logged = await typoInstance({ logger });
    await logged.rs.tryAcquire("api");
    expect(logger.lines).toEqual([
      { level: "warn", message: expect.stringMatching(/^rate-sync: store "main"/) },
    ]);

    const quiet = await typoInstance({ quiet: true });
    await quiet.rs.tryAcquire("api");
    const listened = await typoInstance();
    const errors: Error[] = [];
    listened.rs.on("storeError", (event) => errors.push(event.error));
    await listened.rs.tryAcquire("api");
    expect(errors).toHaveLength(1);
    expect(lines).toEqual([]);
  });
});

describe("a PostgreSQL store that cannot connect at startup", () => {
  it("writes one line naming the store, not one per call", async () => {
    const lines = captureStderr();
    const port = await freePort();
    const rs = RateSync.fromConfig({
      stores: {
        db: { engine: "postgres", url: `postgres://app:s3cret@127.0.0.1:${port}/x`, timeout: "500ms" },
      },
      limiters: { api: { store: "db", rate: "1/min", burst: 1, on_store_error: "deny" } },
    });
    cleanups.push(() => rs.close());
    for (let i = 0; i < 10; i++) expect((await rs.tryAcquire("api")).allowed).toBe(false);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(
      `rate-sync: store "db" (postgres, postgres://app:****@127.0.0.1:${port}/x) is failing: `,
    );
    expect(lines[0]).toContain('on_store_error = "deny": calls are refused');
    expect(lines[0]).not.toContain("s3cret");
  });
});

describe("Notices", () => {
  it("writes a topic again once the interval has passed, and stays bounded under many topics", () => {
    let now = 0;
    const logger = recordingLogger();
    const notices = new Notices({ logger }, () => now);
    expect(notices.warn("a", "first")).toBe(true);
    expect(notices.warn("a", "again")).toBe(false);
    now += NOTICE_INTERVAL_MS;
    expect(notices.warn("a", "later")).toBe(true);
    for (let i = 0; i < 10_000; i++) notices.warn(`topic ${i}`, "x");
    expect(logger.lines).toHaveLength(10_002);
    // Multi-line messages (a ConfigError listing issues) become one line.
    notices.error("multi", "Invalid config:\n  a.toml:1 x\n  a.toml:2 y");
    expect(logger.lines.at(-1)).toEqual({
      level: "error",
      message: "rate-sync: Invalid config:; a.toml:1 x; a.toml:2 y",
    });
  });
});
