/**
 * @module
 * Fleet tests' helpers: worker processes that decide on request (`fleet-worker.ts`), and a wait that polls a
 * worker until its decisions run under an expected limit.
 */

import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { FleetMessage, FleetRequest } from "./fleet-worker.ts";

const WORKER = fileURLToPath(new URL("./fleet-worker.ts", import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A running worker process. */
export class FleetWorker {
  readonly #child: ChildProcess;
  readonly #answers = new Map<number, (quota: number) => void>();
  #next = 0;
  /** `reloadError` messages it reported. */
  readonly errors: string[] = [];
  /** `override` events it reported, as `action id`. */
  readonly events: string[] = [];

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on("message", (message: FleetMessage) => {
      if (message.kind === "answer") {
        this.#answers.get(message.id)?.(message.quota);
        this.#answers.delete(message.id);
      } else if (message.kind === "reloadError") this.errors.push(message.message);
      else if (message.kind === "override") this.events.push(`${message.action} ${message.overrideId}`);
    });
  }

  /** Starts a worker on `toml` and waits until it has read the overrides once. */
  static async start(toml: string): Promise<FleetWorker> {
    const child = fork(WORKER, [toml], { execArgv: ["--import", "tsx"], stdio: "inherit" });
    const worker = new FleetWorker(child);
    await new Promise<void>((resolve, reject) => {
      child.on("message", (message: FleetMessage) => {
        if (message.kind === "ready") resolve();
      });
      child.once("exit", (code) => reject(new Error(`fleet worker exited with ${code} before it was ready`)));
    });
    return worker;
  }

  /** Decides `key` once in the worker: the limit (`policy.quota`) the decision ran under. */
  quota(key: string): Promise<number> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#answers.set(id, resolve);
      this.#child.send({ id, decide: key } satisfies FleetRequest);
    });
  }

  /**
   * Decides `key` until a decision runs under `quota`; rejects with what it saw last when that does not happen
   * within `withinMs` (a generous bound against hangs: how fast it follows is measured by the bench).
   */
  async waitFor(key: string, quota: number, withinMs = 15_000): Promise<void> {
    const deadline = Date.now() + withinMs;
    let seen = Number.NaN;
    while (Date.now() < deadline) {
      seen = await this.quota(key);
      if (seen === quota) return;
      await sleep(20);
    }
    throw new Error(`the worker still decides ${key} under ${seen}, expected ${quota}`);
  }

  /** Closes the worker's RateSync and waits for its exit. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.#child.once("exit", () => resolve()));
    this.#child.send({ id: -1, close: true } satisfies FleetRequest);
    await Promise.race([exited, sleep(5_000)]);
    this.#child.kill("SIGKILL");
  }
}
