/**
 * @module
 * Private Redis servers in shapes the shared one cannot take: a TLS-only server with a self-signed certificate
 * made here with `openssl`, and a master watched by a Redis Sentinel. Each listens on 127.0.0.1 and free ports,
 * keeps its files in a temporary directory, and is killed (and its directory removed) by `stop()`.
 *
 * @example
 * ```ts
 * const tls = await startTlsRedis();      // tls.url = "rediss://127.0.0.1:<port>", tls.caFile
 * const sentinel = await startSentinel(); // sentinel.sentinel = "127.0.0.1:<port>", master "rsmaster"
 * await tls.stop(); await sentinel.stop();
 * ```
 */

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis, type RedisOptions } from "ioredis";

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
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

/** Kills a child and waits (at most 5 s) for its exit. */
async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGKILL");
  await Promise.race([exited, sleep(5_000)]);
}

/** Waits until `probe` answers true with a fresh client (about 10 s at most). */
async function waitFor(
  child: ChildProcess,
  options: RedisOptions,
  probe: (client: Redis) => Promise<boolean>,
): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) return false;
    const client = new Redis({
      ...options,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on("error", () => {});
    const ok = await client
      .connect()
      .then(() => probe(client))
      .catch(() => false);
    client.disconnect();
    if (ok) return true;
    await sleep(100);
  }
  return false;
}

/** A private TLS-only Redis. */
export interface TlsRedis {
  /** `rediss://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** The self-signed certificate (it is its own authority): what a client must trust. */
  readonly caFile: string;
  stop(): Promise<void>;
}

/**
 * Starts a redis-server that speaks TLS only, with a self-signed certificate for 127.0.0.1 and localhost made
 * with `openssl` in a temporary directory. Clients are not asked for certificates.
 */
export async function startTlsRedis(): Promise<TlsRedis> {
  const dir = mkdtempSync(join(tmpdir(), "rate-sync-tls-"));
  const caFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    caFile,
    "-days",
    "1",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
  ]);
  const ca = readFileSync(caFile);
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const child = spawn(
      "redis-server",
      [
        "--port",
        "0",
        "--tls-port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--tls-cert-file",
        caFile,
        "--tls-key-file",
        keyFile,
        "--tls-ca-cert-file",
        caFile,
        "--tls-auth-clients",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
      ],
      { stdio: "ignore" },
    );
    const ready = await waitFor(
      child,
      { host: "127.0.0.1", port, tls: { ca } },
      async (c) => (await c.ping()) === "PONG",
    );
    if (ready) {
      return {
        url: `rediss://127.0.0.1:${port}`,
        port,
        caFile,
        async stop() {
          await kill(child);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    await kill(child);
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error("could not start a TLS redis-server (is it built with TLS?)");
}

/** A private master and a Sentinel that watches it. */
export interface SentinelSetup {
  /** The Sentinel's `127.0.0.1:<port>`. */
  readonly sentinel: string;
  /** The master group's name. */
  readonly name: string;
  /** The master's port (for assertions made on the master directly). */
  readonly masterPort: number;
  stop(): Promise<void>;
}

/** Starts a master and a Sentinel (`redis-server <conf> --sentinel`) monitoring it as `rsmaster`. */
export async function startSentinel(): Promise<SentinelSetup> {
  const dir = mkdtempSync(join(tmpdir(), "rate-sync-sentinel-"));
  const children: ChildProcess[] = [];
  const stopAll = async () => {
    for (const child of children) await kill(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const masterPort = await freePort();
    const master = spawn(
      "redis-server",
      ["--port", String(masterPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: "ignore" },
    );
    children.push(master);
    if (
      !(await waitFor(
        master,
        { host: "127.0.0.1", port: masterPort },
        async (c) => (await c.ping()) === "PONG",
      ))
    )
      throw new Error("the master did not start");
    const sentinelPort = await freePort();
    const conf = join(dir, "sentinel.conf");
    // A Sentinel rewrites its config file: it must be its own, writable one.
    writeFileSync(
      conf,
      [
        `port ${sentinelPort}`,
        "bind 127.0.0.1",
        `dir ${dir}`,
        `sentinel monitor rsmaster 127.0.0.1 ${masterPort} 1`,
        "sentinel down-after-milliseconds rsmaster 5000",
        "",
      ].join("\n"),
    );
    const sentinel = spawn("redis-server", [conf, "--sentinel"], { stdio: "ignore" });
    children.push(sentinel);
    const knowsMaster = async (c: Redis) => {
      const reply = (await c.call("SENTINEL", "get-master-addr-by-name", "rsmaster")) as string[] | null;
      return reply?.[1] === String(masterPort);
    };
    if (!(await waitFor(sentinel, { host: "127.0.0.1", port: sentinelPort }, knowsMaster)))
      throw new Error("the sentinel did not start");
    return { sentinel: `127.0.0.1:${sentinelPort}`, name: "rsmaster", masterPort, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
