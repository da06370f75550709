/**
 * Soak scenario (#13 item 1): a config file rewritten in place at a high rate (bursts of back-to-back
 * `writeFileSync`, which truncates and then writes, from a thread of its own) while one instance watches it
 * and also calls `reload()` in a loop, and calls go to its first limiter throughout. No reload may ever leave
 * the instance without limiters, and no call may meet `UnknownLimiterError`.
 *
 * `soak.ts` starts it with the run and stops it before its leak checks; it uses its own temp directory, its
 * own instance (memory store) and cleans up both.
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { isUnknownLimiterError, RateSync } from "../../src/index.ts";

/** What the scenario saw. */
export interface InPlaceSavesReport {
  readonly writes: number;
  readonly reloadCalls: number;
  /** Reloads applied (explicit and watched). */
  readonly applied: number;
  /** Applied reloads after which the instance had no limiter: must be 0. */
  readonly emptied: number;
  /** Calls that met UnknownLimiterError: must be 0. */
  readonly unknownLimiter: number;
}

const LIMITERS = 10;
const configText = (rate: number) =>
  Array.from({ length: LIMITERS }, (_, i) => `[limiters.l${i}]\nrate = "${rate}/s"\nburst = 100\n`).join("");

/** The writer thread: bursts of in-place saves, short pauses (so some reloads find the file settled). */
const WRITER = `
  const { writeFileSync } = require("node:fs");
  const { workerData, parentPort } = require("node:worker_threads");
  const { file, stop, texts, burstMs, pauseMs } = workerData;
  const flag = new Int32Array(stop);
  let writes = 0;
  while (Atomics.load(flag, 0) === 0) {
    const burstEnd = Date.now() + burstMs;
    while (Date.now() < burstEnd) writeFileSync(file, texts[writes++ % 2]);
    Atomics.wait(flag, 0, 0, pauseMs);
  }
  writeFileSync(file, texts[0]);
  parentPort.postMessage(writes);
`;

/**
 * Starts the scenario; `stop()` ends it, closes everything it opened and reports. Violations go to `violation`.
 */
export async function startInPlaceSaves(
  violation: (message: string) => void,
): Promise<{ stop(): Promise<InPlaceSavesReport> }> {
  const dir = mkdtempSync(join(tmpdir(), "rate-sync-soak-inplace-"));
  const file = join(dir, "rate-sync.toml");
  writeFileSync(file, configText(1));
  const rs = await RateSync.fromFile(file, { watch: true, debounceMs: 10 });
  let applied = 0;
  let emptied = 0;
  let unknownLimiter = 0;
  let reloadCalls = 0;
  rs.on("reload", () => {
    applied++;
    if (rs.limiterIds().length === 0) {
      emptied++;
      violation("an in-place save left the config without limiters");
    }
  });

  const stopFlag = new SharedArrayBuffer(4);
  const worker = new Worker(WRITER, {
    eval: true,
    workerData: { file, stop: stopFlag, texts: [configText(1), configText(2)], burstMs: 20, pauseMs: 80 },
  });
  const writes = new Promise<number>((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });

  let stopping = false;
  const loop = (async () => {
    while (!stopping) {
      reloadCalls++;
      // A rejection is a ConfigError (a cut file, a file that kept changing): reported as reloadError, fine.
      await rs.reload().catch(() => {});
      for (let i = 0; i < 10 && !stopping; i++) {
        try {
          await rs.tryAcquire("l0");
        } catch (error) {
          if (isUnknownLimiterError(error)) {
            unknownLimiter++;
            if (unknownLimiter === 1) violation("a call met UnknownLimiterError during in-place saves");
          } else {
            violation(`in-place saves: unexpected error ${String(error)}`);
          }
        }
      }
    }
  })();

  return {
    async stop(): Promise<InPlaceSavesReport> {
      stopping = true;
      await loop;
      Atomics.store(new Int32Array(stopFlag), 0, 1);
      Atomics.notify(new Int32Array(stopFlag), 0);
      const total = await writes;
      await worker.terminate();
      await rs.close();
      rmSync(dir, { recursive: true, force: true });
      if (applied === 0) violation("in-place saves: no reload was applied");
      return { writes: total, reloadCalls, applied, emptied, unknownLimiter };
    },
  };
}
