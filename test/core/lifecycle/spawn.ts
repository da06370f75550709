/**
 * @module
 * Runs a worker script in a child process (through tsx) and reports when it printed "done" and when it exited,
 * so a test can check that the process ends by itself after its work, without being killed.
 */

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** How a child run ended. */
export interface ChildRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Milliseconds from the "done" line to the exit; undefined when "done" never came. */
  readonly exitAfterDoneMs: number | undefined;
  /** True when the child had to be killed at `killAfterMs`. */
  readonly killed: boolean;
}

/** Runs `worker` (a path relative to this directory) with `args` and `env`; kills it after `killAfterMs`. */
export function runChild(
  worker: string,
  args: readonly string[],
  env: Record<string, string>,
  killAfterMs: number,
): Promise<ChildRun> {
  const path = fileURLToPath(new URL(worker, import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", path, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let doneAt: number | undefined;
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    if (doneAt === undefined && stdout.includes("done")) doneAt = performance.now();
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve) => {
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill("SIGKILL");
    }, killAfterMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      const exitAfterDoneMs = doneAt === undefined ? undefined : performance.now() - doneAt;
      resolve({ code, stdout, stderr, exitAfterDoneMs, killed });
    });
  });
}
