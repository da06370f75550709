/**
 * @module
 * CPU pinning with `taskset`: the bench's client on one core and the servers it talks to on another, so the
 * client never competes with the server it waits for and runs are comparable. Whatever the bench pins it
 * restores when it ends.
 */

import { execFile } from "node:child_process";
import { cpus } from "node:os";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The core the bench process runs on; servers go to {@link SERVER_CPU}. */
export const CLIENT_CPU = 0;
/** The core the Redis server and the bench's PostgreSQL backends run on. */
export const SERVER_CPU = 1;

/** True when the machine has the two cores and the `taskset` tool pinning needs. */
export async function canPin(): Promise<boolean> {
  if (process.platform !== "linux" || cpus().length < 2) return false;
  try {
    await run("taskset", ["-p", String(process.pid)]);
    return true;
  } catch {
    return false;
  }
}

/** Pins of server processes, to undo at the end. */
export class Pins {
  readonly #previous = new Map<number, string>();

  /** Pids pinned so far. */
  get pids(): number[] {
    return [...this.#previous.keys()];
  }

  /** Pins `pid` to `cpu`, remembering its mask; false when the process cannot be pinned (gone, not ours). */
  async pin(pid: number, cpu: number): Promise<boolean> {
    try {
      if (!this.#previous.has(pid)) {
        const { stdout } = await run("taskset", ["-p", String(pid)]);
        const mask = /mask:\s*([0-9a-f]+)/i.exec(stdout)?.[1];
        if (mask === undefined) return false;
        this.#previous.set(pid, mask);
      }
      await run("taskset", ["-p", "-c", String(cpu), String(pid)]);
      return true;
    } catch {
      return false;
    }
  }

  /** Gives every pinned process its previous mask back (a process that ended meanwhile is skipped). */
  async restore(): Promise<void> {
    for (const [pid, mask] of this.#previous) {
      await run("taskset", ["-p", mask, String(pid)]).catch(() => {});
    }
    this.#previous.clear();
  }
}
