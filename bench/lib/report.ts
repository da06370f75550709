/**
 * @module
 * The report: a Markdown table of every row (each contender against rate-sync, as a ratio), the ratios to
 * the physical limits, and the targets of the performance issue, each met or not.
 */

import { higherIsBetter, type Metric, type Row } from "./compare.ts";
import type { Summary } from "./stats.ts";

/** Our contender's name in every row. */
export const OURS = "rate-sync";

/** A target: `ours ÷ reference` compared with a bound (or an absolute bound when `reference` is absent). */
export interface Target {
  readonly name: string;
  readonly section: string;
  readonly scenario: string;
  readonly metric: Metric;
  /** The contender measured (default: rate-sync). */
  readonly subject?: string;
  /** The contender divided by; absent for an absolute bound. */
  readonly reference?: string;
  /** Which row holds the reference, when it is another row (physical limits): `[section, scenario]`. */
  readonly referenceRow?: readonly [string, string];
  readonly bound: number;
  /** `>=`: the figure must be at least the bound; `<=`: at most. */
  readonly op: ">=" | "<=";
}

/** A target evaluated on a run. */
export interface TargetResult extends Target {
  /** The ratio (or absolute figure) measured; NaN when a row is missing. */
  readonly value: number;
  readonly met: boolean;
}

/** Finds a contender's summary in a row of the given scenario and metric. */
function find(
  rows: readonly Row[],
  section: string,
  scenario: string,
  metric: Metric,
  contender: string,
): Summary | undefined {
  return rows.find((r) => r.section === section && r.scenario === scenario && r.metric === metric)?.values[
    contender
  ];
}

/** Evaluates targets against the rows of a run (medians). */
export function evaluate(rows: readonly Row[], targets: readonly Target[]): TargetResult[] {
  return targets.map((target) => {
    const subject = find(rows, target.section, target.scenario, target.metric, target.subject ?? OURS);
    const [refSection, refScenario] = target.referenceRow ?? [target.section, target.scenario];
    const reference =
      target.reference === undefined
        ? undefined
        : find(rows, refSection, refScenario, target.metric, target.reference);
    let value = Number.NaN;
    if (subject !== undefined) {
      value =
        target.reference === undefined ? subject.median : subject.median / (reference?.median ?? Number.NaN);
    }
    const met =
      Number.isFinite(value) && (target.op === ">=" ? value >= target.bound : value <= target.bound);
    return { ...target, value, met };
  });
}

/** A number in a short human form: 1.23M, 45.6k, 0.183. */
export function human(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (abs >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

function cell(summary: Summary): string {
  return `${human(summary.median)} [${human(summary.min)}–${human(summary.max)}]`;
}

function ratio(ours: Summary, other: Summary): string {
  return `${(ours.median / other.median).toFixed(2)}×`;
}

/** The Markdown table of every row: ours, each other contender, and ours ÷ that contender. */
export function resultsTable(rows: readonly Row[]): string {
  const lines = [
    "| Section | Scenario | Metric | rate-sync median [min–max] | Compared with | its median [min–max] | rate-sync ÷ it |",
    "|---|---|---|---|---|---|---|",
  ];
  for (const row of rows) {
    const ours = row.values[OURS];
    const others = Object.entries(row.values).filter(([name]) => name !== OURS);
    const better = higherIsBetter(row.metric) ? "higher is better" : "lower is better";
    if (others.length === 0 && ours !== undefined) {
      lines.push(`| ${row.section} | ${row.scenario} | ${row.metric} | ${cell(ours)} | | | |`);
    }
    for (const [name, summary] of others) {
      lines.push(
        `| ${row.section} | ${row.scenario} | ${row.metric} (${better}) | ${ours ? cell(ours) : "—"} | ${name} | ${cell(summary)} | ${ours ? ratio(ours, summary) : "—"} |`,
      );
    }
  }
  return lines.join("\n");
}

/** The Markdown table of ratios to physical limits (informational: no bound). */
export function physicalTable(results: readonly TargetResult[]): string {
  const lines = ["| rate-sync scenario | Physical limit | rate-sync ÷ limit |", "|---|---|---|"];
  for (const t of results) lines.push(`| ${t.name} | ${t.reference ?? ""} | ${t.value.toFixed(3)}× |`);
  return lines.join("\n");
}

/** The Markdown table of targets. */
export function targetsTable(results: readonly TargetResult[]): string {
  const lines = ["| Target | Measured | Bound | Met |", "|---|---|---|---|"];
  for (const t of results) {
    const measured = t.reference === undefined ? human(t.value) : `${t.value.toFixed(2)}×`;
    const bound = t.reference === undefined ? `${t.op} ${t.bound}` : `${t.op} ${t.bound}×`;
    lines.push(`| ${t.name} | ${measured} | ${bound} | ${t.met ? "yes" : "**no**"} |`);
  }
  return lines.join("\n");
}
