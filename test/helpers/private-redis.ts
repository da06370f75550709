/**
 * @module
 * A private `redis-server` for fault tests that must stop the server itself (freeze it with SIGSTOP, resume it
 * with SIGCONT, kill and restart it): never do that to a shared server. Listens on 127.0.0.1 and a free
 * ephemeral port, and is killed by {@link PrivateRedis.stop}. It keeps nothing on disk unless started with
 * `durable: true`: then it keeps its data across {@link PrivateRedis.restart} (append-only file, fsync on every
 * write), as a production Redis holding overrides would.
 *
 * @example
 * ```ts
 * const server = await PrivateRedis.start();
 * const store = new RedisStore({ ...config, url: server.url });
 * server.freeze();  // the process stops: connections stay open, nothing is answered
 * server.resume();  // it runs what it received meanwhile
 * await server.stop();
 * ```
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A free TCP port on 127.0.0.1 (the kernel picks it; nothing else is told about it). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Options of {@link PrivateRedis.start}. */
export interface PrivateRedisOptions {
  /** Keep the data on disk (append-only, fsync always), so it survives {@link PrivateRedis.restart}. */
  readonly durable?: boolean;
}

/** A `redis-server` child process owned by the test that started it. */
export class PrivateRedis {
  #child: ChildProcess | undefined;
  readonly port: number;
  /** The data directory of a durable server. */
  readonly #dir: string | undefined;
  #frozen = false;

  private constructor(port: number, dir: string | undefined) {
    this.port = port;
    this.#dir = dir;
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts a server and waits until it answers PING (rejects after a few attempts of about 10 s). */
  static async start(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const dir = options.durable ? mkdtempSync(join(tmpdir(), "rs-private-redis-")) : undefined;
      const server = new PrivateRedis(await freePort(), dir);
      if (await server.#spawn()) return server;
      await server.stop();
    }
    throw new Error("could not start a private redis-server");
  }

  /** Stops the process (SIGSTOP): open connections stay open and nothing is answered until {@link resume}. */
  freeze(): void {
    this.#child?.kill("SIGSTOP");
    this.#frozen = true;
  }

  /** Resumes a frozen process (SIGCONT): it reads and runs what piled up meanwhile. */
  resume(): void {
    this.#child?.kill("SIGCONT");
    this.#frozen = false;
  }

  /**
   * Kills the server (SIGKILL: no goodbye to clients) and starts it again on the same port after `downMs`; a
   * durable server comes back with its data.
   */
  async restart(downMs = 500): Promise<void> {
    await this.#kill();
    await sleep(downMs);
    if (!(await this.#spawn())) throw new Error("the private redis-server did not start again");
  }

  /** Kills the process (resuming it first if frozen, so the kill is not held up), waits for its exit. */
  async stop(): Promise<void> {
    await this.#kill();
    if (this.#dir !== undefined) rmSync(this.#dir, { recursive: true, force: true });
  }

  async #kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    if (this.#frozen) child.kill("SIGCONT");
    this.#frozen = false;
    child.kill("SIGKILL");
    await Promise.race([exited, sleep(5_000)]);
  }

  /** Starts the process and waits until it answers PING; false when it exits or never answers. */
  async #spawn(): Promise<boolean> {
    const args = ["--port", String(this.port), "--bind", "127.0.0.1", "--save", ""];
    if (this.#dir === undefined) args.push("--appendonly", "no");
    else args.push("--dir", this.#dir, "--appendonly", "yes", "--appendfsync", "always");
    const child = spawn("redis-server", args, { stdio: "ignore" });
    this.#child = child;
    for (let i = 0; i < 100; i++) {
      if (child.exitCode !== null) return false;
      const client = new Redis(this.url, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      client.on("error", () => {});
      const ok = await client
        .connect()
        .then(() => client.ping())
        .then(
          (reply) => reply === "PONG",
          () => false,
        );
      client.disconnect();
      if (ok) return true;
      await sleep(100);
    }
    return false;
  }
}
