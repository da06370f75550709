/**
 * @module
 * A prom-client `Summary` whose `_count` and `_sum` are read from a snapshot at scrape time instead of being
 * fed by `observe()`: rate-sync keeps a count and a sum of waits per limiter, not the waits themselves.
 */

import type { Summary, SummaryConfiguration } from "prom-client";
import { promClient } from "./prom-client.ts";

/** One label set of a {@link SnapshotSummary}: how many observations, and their total. */
export interface SummarySample<Label extends string> {
  readonly labels: Readonly<Record<Label, string>>;
  readonly count: number;
  readonly sum: number;
}

/**
 * A summary without quantiles, computed on each scrape from `read()`.
 *
 * Why a summary and not a histogram: the counters hold only `count` and `sum` (no distribution), which is
 * exactly a summary with no quantiles in the exposition format. A histogram would need per-bucket counts that
 * do not exist; exposing only a `+Inf` bucket would look like a histogram while making `histogram_quantile()`
 * answer nonsense. Averages (`rate(_sum) / rate(_count)`) work the same either way.
 */
export class SnapshotSummary<Label extends string> extends promClient.Summary<Label> {
  readonly #read: () => Iterable<SummarySample<Label>>;

  /**
   * @param config The usual prom-client configuration; `percentiles` is forced to none and `collect` is unused.
   * @param read Returns the current samples; called once per scrape.
   */
  constructor(
    config: Omit<SummaryConfiguration<Label>, "percentiles" | "collect">,
    read: () => Iterable<SummarySample<Label>>,
  ) {
    super({ ...config, percentiles: [] });
    this.#read = read;
  }

  /** The summary as prom-client's registry reads it on a scrape: `_sum` and `_count` per label set. */
  override async get(): Promise<Awaited<ReturnType<Summary<Label>["get"]>>> {
    // Read before the first await: prom-client calls every collector of a scrape in one synchronous pass, and
    // reading there lets all of them share one snapshot.
    const samples = [...this.#read()];
    // The base gives the metric's name, help, type and aggregator; no value is ever observed into it.
    const base = await super.get();
    const values: (typeof base)["values"] = [];
    for (const sample of samples) {
      values.push({ metricName: `${base.name}_sum`, labels: { ...sample.labels }, value: sample.sum });
      values.push({ metricName: `${base.name}_count`, labels: { ...sample.labels }, value: sample.count });
    }
    return { ...base, values };
  }
}
