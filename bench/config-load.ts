/**
 * @module
 * Loading and hot-reloading large config files (#13 item 6): for each size, in a fresh child process, the time
 * and heap to load a file of N limiters, and the longest the event loop was blocked while the same file was
 * reloaded with every limit changed (measured with `perf_hooks.monitorEventLoopDelay`, 1 ms resolution, and with a
 * 1 ms interval timer that records the largest gap between its ticks). Also: a 10 MB file of invalid limiters
 * (time to reject it, size of the error message). CPU figures: `loadCpuMs` and `reloadCpuMs` are the whole
 * process (every thread: the parse thread and the collector's helpers too), `loadMainCpuMs` and
 * `reloadMainCpuMs` the main thread alone (Linux only, 10 ms resolution).
 *
 * Run: `node --expose-gc --import tsx bench/config-load.ts [sizes…]` (default 20000 40000 80000 100000 262000).
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { getHeapStatistics } from "node:v8";
import { RateSync } from "../src/index.ts";

/** The id of the `i`-th limiter of {@link limiterFile}: `l000001`. */
export const limiterId = (i: number): string => `l${String(i).padStart(6, "0")}`;

/** A file of `count` limiters, about 40 bytes each: `[limiters.l000001]` with `rate = "<limit>/s"`. */
export function limiterFile(count: number, limit = 10): string {
  const parts: string[] = [];
  for (let i = 0; i < count; i++) parts.push(`[limiters.${limiterId(i)}]\nrate = "${limit}/s"\n`);
  return parts.join("");
}

const gc = (globalThis as { gc?: () => void }).gc;
function heapMb(): number {
  for (let i = 0; i < 3; i++) gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

/** CPU time (user + system, every thread of the process) since `since`: steadier than wall time on a busy machine. */
function cpuMs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return Math.round((used.user + used.system) / 1000);
}

/**
 * CPU time of the main thread alone (user + system, 10 ms resolution), from Linux's `/proc`: the part of
 * {@link cpuMs} the event loop itself spent (the rest is the parse thread and the collector's helpers).
 * `undefined` where `/proc` is not there.
 */
function mainThreadCpuMs(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
    // The fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/** `mainThreadCpuMs() - since`, or undefined. */
function mainCpuSince(since: number | undefined): number | undefined {
  const now = mainThreadCpuMs();
  return now === undefined || since === undefined ? undefined : now - since;
}

/** One size, in this process: prints one JSON line. */
async function measureOne(count: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "rate-sync-bench-"));
  try {
    const file = join(dir, "rate-sync.toml");
    writeFileSync(file, limiterFile(count, 10));
    const heapBefore = heapMb();
    let started = performance.now();
    let cpuStarted = process.cpuUsage();
    let mainStarted = mainThreadCpuMs();
    const rs = await RateSync.fromFile(file);
    const loadMs = performance.now() - started;
    const loadCpuMs = cpuMs(cpuStarted);
    const loadMainCpuMs = mainCpuSince(mainStarted);
    const peakRssMb = process.resourceUsage().maxRSS / 1024;
    const heapMbAfter = heapMb() - heapBefore;
    const ids = rs.limiterIds().length;

    writeFileSync(file, limiterFile(count, 20));
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    let last = performance.now();
    let maxGap = 0;
    // The largest heap seen while the reload runs (old and new config live side by side until the swap).
    let reloadPeakHeap = getHeapStatistics().used_heap_size;
    const ticker = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      reloadPeakHeap = Math.max(reloadPeakHeap, getHeapStatistics().used_heap_size);
    }, 1);
    histogram.enable();
    started = performance.now();
    cpuStarted = process.cpuUsage();
    mainStarted = mainThreadCpuMs();
    await rs.reload();
    const reloadMs = performance.now() - started;
    const reloadCpuMs = cpuMs(cpuStarted);
    const reloadMainCpuMs = mainCpuSince(mainStarted);
    // Let the ticker run once after the reload, so a block at its very end is seen too.
    await new Promise((resolve) => setTimeout(resolve, 5));
    histogram.disable();
    clearInterval(ticker);
    const limit = rs.explain(`l${String(count - 1).padStart(6, "0")}`)?.policy.quota;
    await rs.close();
    console.log(
      JSON.stringify({
        limiters: count,
        fileMb: +((limiterFile(1).length * count) / 2 ** 20).toFixed(1),
        loadMs: Math.round(loadMs),
        loadCpuMs,
        loadMainCpuMs,
        heapMb: Math.round(heapMbAfter),
        peakRssMb: Math.round(peakRssMb),
        reloadMs: Math.round(reloadMs),
        reloadCpuMs,
        reloadMainCpuMs,
        reloadPeakHeapMb: Math.round(reloadPeakHeap / 2 ** 20),
        reloadMaxBlockMs: +(histogram.max / 1e6).toFixed(1),
        reloadMaxTimerGapMs: +maxGap.toFixed(1),
        ok: ids === count && limit === 20,
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A 10 MB file whose every limiter is invalid: time to reject it and the size of the message. */
async function measureInvalid(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "rate-sync-bench-"));
  try {
    const file = join(dir, "rate-sync.toml");
    const parts: string[] = [];
    let bytes = 0;
    for (let i = 0; bytes < 10 * 2 ** 20; i++) {
      const part = `[limiters.l${i}]\nrate = "ten per second"\n`;
      parts.push(part);
      bytes += part.length;
    }
    writeFileSync(file, parts.join(""));
    const started = performance.now();
    let message = "";
    try {
      await RateSync.fromFile(file);
    } catch (error) {
      message = error instanceof Error ? error.message : String(error);
    }
    console.log(
      JSON.stringify({
        invalidFileMb: +(bytes / 2 ** 20).toFixed(1),
        rejectMs: Math.round(performance.now() - started),
        messageBytes: message.length,
        messageTail: message.slice(-80),
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
const [mode, arg] = process.argv.slice(2);
if (!isMain) {
  // Imported for `limiterFile`: measure nothing.
} else if (mode === "--one") {
  await measureOne(Number(arg));
} else if (mode === "--invalid") {
  await measureInvalid();
} else {
  const sizes = process.argv.slice(2).map(Number);
  const self = fileURLToPath(import.meta.url);
  for (const size of sizes.length > 0 ? sizes : [20_000, 40_000, 80_000, 100_000, 262_000]) {
    process.stdout.write(
      execFileSync(process.execPath, ["--expose-gc", "--import", "tsx", self, "--one", String(size)]),
    );
  }
  process.stdout.write(execFileSync(process.execPath, ["--expose-gc", "--import", "tsx", self, "--invalid"]));
}
