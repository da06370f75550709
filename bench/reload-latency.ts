/**
 * @module
 * Hot-reload latency (SPEC §4.2: "from write to effect in under 250 ms"): the time from saving the config
 * file to the first decision made under the new limits, over ~100 edits, for each way of saving a file.
 *
 * Run: `npx tsx bench/reload-latency.ts` (prints a table). The main bench imports `measureReloadLatency()`.
 */

import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { RateSync } from "../src/index.ts";

/** How the benchmark saves the file. */
export type ReloadSavePattern = "in-place" | "atomic-rename";

/** Options of {@link measureReloadLatency}. */
export interface ReloadLatencyOptions {
  /**
   * Edits per save pattern.
   * @default 100
   */
  readonly edits?: number;
  /**
   * Save patterns to measure.
   * @default ["atomic-rename", "in-place"]
   */
  readonly patterns?: readonly ReloadSavePattern[];
  /**
   * Watcher debounce, in ms.
   * @default 50 (the library default)
   */
  readonly debounceMs?: number;
  /**
   * Give up on one edit after this long (reported as a failure, never waited out silently).
   * @default 5000
   */
  readonly editTimeoutMs?: number;
}

/** Latency of one save pattern, in milliseconds. */
export interface ReloadLatencyRow {
  readonly pattern: ReloadSavePattern;
  readonly edits: number;
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly minMs: number;
  /** Edits whose new limit never showed up within `editTimeoutMs`. */
  readonly timedOut: number;
}

/** The result of {@link measureReloadLatency}: one row per save pattern. */
export interface ReloadLatencyResult {
  readonly name: "reload-latency";
  /** What is measured. */
  readonly metric: "write to first decision under the new limits";
  readonly debounceMs: number;
  /** The SPEC target for p99. */
  readonly targetP99Ms: 250;
  readonly rows: readonly ReloadLatencyRow[];
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

const round = (ms: number) => Math.round(ms * 10) / 10;

function configText(limit: number): string {
  // A large limit and a long window: polling decisions never run out, and each edit has a limit of its own.
  return `[limiters.api]\nalgorithm = "fixed_window"\nlimit = ${limit}\nwindow = "1h"\n`;
}

async function measurePattern(
  pattern: ReloadSavePattern,
  edits: number,
  debounceMs: number,
  editTimeoutMs: number,
): Promise<ReloadLatencyRow> {
  const dir = mkdtempSync(join(tmpdir(), "rate-sync-bench-"));
  const path = join(dir, "rate-sync.toml");
  writeFileSync(path, configText(1_000_000));
  const rs = await RateSync.fromFile(path, { watch: true, debounceMs });
  const samples: number[] = [];
  let timedOut = 0;
  try {
    for (let edit = 1; edit <= edits; edit++) {
      const limit = 1_000_000 + edit;
      const started = performance.now();
      if (pattern === "in-place") {
        writeFileSync(path, configText(limit));
      } else {
        const temp = join(dir, `.rate-sync.toml.${edit}.tmp`);
        writeFileSync(temp, configText(limit));
        renameSync(temp, path);
      }
      // Decide until a decision carries the new limit: that decision is the first one under the new config.
      for (;;) {
        const decision = await rs.tryAcquire("api");
        const elapsed = performance.now() - started;
        if (decision.limit === limit) {
          samples.push(elapsed);
          break;
        }
        if (elapsed > editTimeoutMs) {
          timedOut++;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
  } finally {
    await rs.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    pattern,
    edits,
    medianMs: round(quantile(sorted, 0.5)),
    p99Ms: round(quantile(sorted, 0.99)),
    maxMs: round(sorted.at(-1) ?? Number.NaN),
    minMs: round(sorted[0] ?? Number.NaN),
    timedOut,
  };
}

/**
 * Measures write → first decision under the new limits, for each save pattern.
 *
 * @example
 * ```ts
 * const result = await measureReloadLatency({ edits: 50 });
 * console.log(result.rows[0]?.p99Ms);
 * ```
 */
export async function measureReloadLatency(options: ReloadLatencyOptions = {}): Promise<ReloadLatencyResult> {
  const edits = options.edits ?? 100;
  const debounceMs = options.debounceMs ?? 50;
  const editTimeoutMs = options.editTimeoutMs ?? 5_000;
  const rows: ReloadLatencyRow[] = [];
  for (const pattern of options.patterns ?? ["atomic-rename", "in-place"]) {
    rows.push(await measurePattern(pattern, edits, debounceMs, editTimeoutMs));
  }
  return {
    name: "reload-latency",
    metric: "write to first decision under the new limits",
    debounceMs,
    targetP99Ms: 250,
    rows,
  };
}

/** The result as a small fixed-width table. */
export function formatReloadLatency(result: ReloadLatencyResult): string {
  const header = ["save pattern", "edits", "median ms", "p99 ms", "max ms", "timed out"];
  const lines = result.rows.map((row) => [
    row.pattern,
    String(row.edits),
    row.medianMs.toFixed(1),
    row.p99Ms.toFixed(1),
    row.maxMs.toFixed(1),
    String(row.timedOut),
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => line[column]?.length ?? 0)),
  );
  const format = (cells: readonly string[]) =>
    cells.map((cell, column) => cell.padStart(widths[column] ?? 0)).join("  ");
  return [
    `reload latency: ${result.metric} (debounce ${result.debounceMs} ms, target p99 < ${result.targetP99Ms} ms)`,
    format(header),
    ...lines.map(format),
  ].join("\n");
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const result = await measureReloadLatency();
  console.log(formatReloadLatency(result));
  console.log(JSON.stringify(result));
}
