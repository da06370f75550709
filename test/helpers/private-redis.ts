/**
 * @module
 * A private `redis-server` for fault tests that must stop the server itself (freeze it with SIGSTOP, resume it
 * with SIGCONT, kill it): never do that to a shared server. Listens on 127.0.0.1 and a free ephemeral port, keeps
 * nothing on disk, and is killed by {@link PrivateRedis.stop}.
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
import { createServer } from "node:net";
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

/** A `redis-server` child process owned by the test that started it. */
export class PrivateRedis {
  readonly #child: ChildProcess;
  readonly port: number;
  #frozen = false;

  private constructor(child: ChildProcess, port: number) {
    this.#child = child;
    this.port = port;
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts a server and waits until it answers PING (rejects after about 10 s). */
  static async start(): Promise<PrivateRedis> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort();
      const child = spawn(
        "redis-server",
        ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        { stdio: "ignore" },
      );
      const server = new PrivateRedis(child, port);
      if (await server.#waitReady()) return server;
      await server.stop();
    }
    throw new Error("could not start a private redis-server");
  }

  /** Stops the process (SIGSTOP): open connections stay open and nothing is answered until {@link resume}. */
  freeze(): void {
    this.#child.kill("SIGSTOP");
    this.#frozen = true;
  }

  /** Resumes a frozen process (SIGCONT): it reads and runs what piled up meanwhile. */
  resume(): void {
    this.#child.kill("SIGCONT");
    this.#frozen = false;
  }

  /** Kills the process (resuming it first if frozen, so the kill is not held up) and waits for its exit. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.#child.once("exit", () => resolve()));
    if (this.#frozen) this.resume();
    this.#child.kill("SIGKILL");
    await Promise.race([exited, sleep(5_000)]);
  }

  async #waitReady(): Promise<boolean> {
    for (let i = 0; i < 100; i++) {
      if (this.#child.exitCode !== null) return false;
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
