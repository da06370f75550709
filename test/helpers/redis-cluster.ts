/**
 * @module
 * A private Redis Cluster for a test file: three masters on free loopback ports, joined with
 * `redis-cli --cluster create`, removed by `stop()`.
 */

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A running cluster: its node URLs and ports, its server processes (one per port, in order), and how to stop it. */
export interface PrivateCluster {
  readonly urls: readonly string[];
  readonly ports: readonly number[];
  readonly servers: readonly ChildProcess[];
  stop(): Promise<void>;
}

/** Free ports whose cluster bus ports (+10000) are free too. */
async function freePorts(count: number): Promise<number[]> {
  const isFree = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
  const ports: number[] = [];
  for (let attempt = 0; attempt < 200 && ports.length < count; attempt++) {
    const port = 7000 + Math.floor(Math.random() * 2000);
    if (!ports.includes(port) && (await isFree(port)) && (await isFree(port + 10000))) ports.push(port);
  }
  if (ports.length < count) throw new Error("no free ports for the cluster");
  return ports;
}

/** Starts three cluster masters and waits until the cluster is ok. */
export async function startCluster(): Promise<PrivateCluster> {
  const dir = mkdtempSync(join(tmpdir(), "rate-sync-cluster-"));
  const ports = await freePorts(3);
  const servers: ChildProcess[] = [];
  const stop = async () => {
    for (const child of servers) child.kill("SIGKILL");
    await sleep(100);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      const args = ["--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes"];
      args.push(
        "--cluster-config-file",
        `nodes-${port}.conf`,
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
      );
      servers.push(spawn("redis-server", args, { stdio: "ignore" }));
    }
    for (const port of ports) {
      for (let i = 0; i < 50; i++) {
        const ok = await run("redis-cli", ["-p", String(port), "ping"]).then(
          (r) => r.stdout.includes("PONG"),
          () => false,
        );
        if (ok) break;
        await sleep(100);
      }
    }
    await run("redis-cli", ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-yes"]);
    for (let i = 0; i < 100; i++) {
      const states = await Promise.all(
        ports.map((p) =>
          run("redis-cli", ["-p", String(p), "cluster", "info"]).then(
            (r) => r.stdout,
            () => "",
          ),
        ),
      );
      if (states.every((s) => s.includes("cluster_state:ok"))) break;
      await sleep(100);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { urls: ports.map((p) => `redis://127.0.0.1:${p}`), ports, servers, stop };
}
