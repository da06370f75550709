/**
 * @module
 * A private `redis-server` that keeps its data across a restart (append-only file, fsync on every write), as a
 * production Redis holding overrides would: the overrides fleet test restarts it in the middle. Never the
 * shared server.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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

/** A restartable, persistent private redis-server. */
export class DurableRedis {
  readonly #dir = mkdtempSync(join(tmpdir(), "rs-durable-redis-"));
  #child: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<DurableRedis> {
    const server = new DurableRedis(await freePort());
    await server.#spawn();
    return server;
  }

  /** Kills the server (SIGKILL: no goodbye to clients) and starts it again on the same port and data. */
  async restart(downMs = 500): Promise<void> {
    await this.#kill();
    await sleep(downMs);
    await this.#spawn();
  }

  async stop(): Promise<void> {
    await this.#kill();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  async #kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGKILL");
    await Promise.race([exited, sleep(5_000)]);
  }

  async #spawn(): Promise<void> {
    const args = ["--port", String(this.port), "--bind", "127.0.0.1", "--dir", this.#dir, "--save", ""];
    args.push("--appendonly", "yes", "--appendfsync", "always");
    this.#child = spawn("redis-server", args, { stdio: "ignore" });
    for (let i = 0; i < 100; i++) {
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
      if (ok) return;
      await sleep(100);
    }
    throw new Error("the private redis-server did not start");
  }
}
