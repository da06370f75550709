/**
 * @module
 * Exposes `rs.metrics()` to Prometheus through prom-client collectors that read the counters at scrape time.
 * Nothing runs per decision: the core only increments plain numbers, and this module turns them into series
 * when Prometheus asks.
 */

import type { Counter as CounterMetric, Metric, Registry, RegistryContentType } from "prom-client";
import type { MetricsSnapshot } from "../core/metrics.ts";
import { InvalidArgumentError } from "../errors.ts";
import { promClient } from "./prom-client.ts";
import { SnapshotSummary, type SummarySample } from "./snapshot-summary.ts";

// Values, not types: they come from the guarded load (a missing prom-client gives a clear error).
const { Counter, Gauge, register: globalRegistry } = promClient;

/** Anything with a `metrics()` snapshot: a `RateSync` instance, typically. */
export interface MetricsSource {
  metrics(): MetricsSnapshot;
}

/** Options of {@link collectMetrics}. */
export interface CollectMetricsOptions {
  /**
   * The prom-client registry to register the collectors in.
   * @default prom-client's global `register`
   */
  readonly registry?: Registry<RegistryContentType>;
  /**
   * Prepended to every metric name. Use a different one (or a different registry) for each instance when one
   * process exports several.
   * @default "ratesync_"
   */
  readonly prefix?: string;
}

/** Removes the collectors {@link collectMetrics} registered. Idempotent. */
export type UnregisterMetrics = () => void;

/** Prometheus metric names: `[a-zA-Z_:][a-zA-Z0-9_:]*`. A prefix may also be empty. */
const METRIC_PREFIX = /^(?:[a-zA-Z_:][a-zA-Z0-9_:]*)?$/;

/** The default prefix of every metric name. */
export const DEFAULT_METRIC_PREFIX = "ratesync_";

/** Bounded label values only: limiter and template ids come from the config, never from raw keys. */
type LimiterLabel = "limiter";

/**
 * Registers collectors for one RateSync instance. Every value is read from `rs.metrics()` when the registry
 * is scraped (one snapshot per scrape), so deciding costs nothing extra.
 *
 * Series (with the default prefix):
 * - `ratesync_decisions_total{limiter,outcome}` — outcome `allowed`, `denied` or `shadow_denied`
 *   (shadow denials were let through, so they are also counted as `allowed`), and `allowed_by_list` /
 *   `denied_by_list` for calls `[lists]` decided without a store (not counted in `allowed` / `denied`).
 * - `ratesync_wait_seconds{limiter}` — a summary without quantiles (`_sum`, `_count`) of `acquire()` waits;
 *   `ratesync_wait_seconds_max{limiter}` — the longest wait since the process started.
 * - `ratesync_timeouts_total{limiter}`, `ratesync_store_errors_total{limiter}`,
 *   `ratesync_local_cache_hits_total{limiter}`, `ratesync_degraded_total{limiter}`.
 * - `ratesync_reloads_total{result}` — `ok` or `error`.
 * - `ratesync_store_keys{store}`, `ratesync_store_evictions_total{store}` — for stores that report them
 *   (memory stores).
 * - `ratesync_store_breaker_open{store}` — 1 while a remote store's circuit breaker is open (calls fail at
 *   once), 0 when closed or half-open (probing); for stores that have a breaker (Redis, PostgreSQL).
 *
 * @returns a function that unregisters every collector registered here.
 * @throws InvalidArgumentError when the prefix is not a valid metric name prefix, or when a metric of the same
 *   name is already registered (nothing is registered then).
 *
 * @example
 * ```ts
 * import { Registry } from "prom-client";
 * import { collectMetrics } from "rate-sync/prometheus";
 *
 * const registry = new Registry();
 * const stop = collectMetrics(rs, { registry });
 * app.get("/metrics", async (_req, res) => {
 *   res.type(registry.contentType).send(await registry.metrics());
 * });
 * // later: stop();
 * ```
 */
export function collectMetrics(rs: MetricsSource, options: CollectMetricsOptions = {}): UnregisterMetrics {
  const registry = options.registry ?? globalRegistry;
  const prefix = options.prefix ?? DEFAULT_METRIC_PREFIX;
  if (typeof prefix !== "string" || !METRIC_PREFIX.test(prefix)) {
    throw new InvalidArgumentError(
      `prefix must start with a letter, "_" or ":" and contain only letters, digits, "_" and ":"; got ${JSON.stringify(prefix)}`,
    );
  }
  const name = (suffix: string): string => `${prefix}${suffix}`;
  const names = [
    "decisions_total",
    "wait_seconds",
    "wait_seconds_max",
    "timeouts_total",
    "store_errors_total",
    "local_cache_hits_total",
    "degraded_total",
    "reloads_total",
    "store_keys",
    "store_evictions_total",
    "store_breaker_open",
  ].map(name);
  for (const taken of names) {
    if (registry.getSingleMetric(taken) !== undefined) {
      throw new InvalidArgumentError(
        `a metric named "${taken}" is already registered: unregister the previous collectors, or pass another prefix or registry`,
      );
    }
  }

  const read = snapshotPerScrape(rs);
  // `registers: []` keeps prom-client from registering in its global registry; we register explicitly below.
  const registers: Registry<RegistryContentType>[] = [];

  const decisions = new Counter<"limiter" | "outcome">({
    name: name("decisions_total"),
    help: "Decisions by limiter or template id. shadow_denied calls were let through and are also counted as allowed; allowed_by_list and denied_by_list were decided by [lists] without a store.",
    labelNames: ["limiter", "outcome"],
    registers,
    collect() {
      this.reset();
      for (const [limiter, counters] of Object.entries(read().limiters)) {
        this.inc({ limiter, outcome: "allowed" }, counters.allowed);
        this.inc({ limiter, outcome: "denied" }, counters.denied);
        this.inc({ limiter, outcome: "shadow_denied" }, counters.shadowDenied);
        this.inc({ limiter, outcome: "allowed_by_list" }, counters.allowedByList);
        this.inc({ limiter, outcome: "denied_by_list" }, counters.deniedByList);
      }
    },
  });

  const waitSeconds = new SnapshotSummary<LimiterLabel>(
    {
      name: name("wait_seconds"),
      help: "Time acquire() calls waited before being allowed (calls that did not wait are not counted).",
      labelNames: ["limiter"],
      registers,
    },
    function* () {
      for (const [limiter, counters] of Object.entries(read().limiters)) {
        const sample: SummarySample<LimiterLabel> = {
          labels: { limiter },
          count: counters.waitMs.count,
          sum: counters.waitMs.sumMs / 1000,
        };
        yield sample;
      }
    },
  );

  const waitMax = new Gauge<LimiterLabel>({
    name: name("wait_seconds_max"),
    help: "Longest wait of an acquire() call since the process started.",
    labelNames: ["limiter"],
    registers,
    // In a cluster (AggregatorRegistry) the longest wait of any worker is the longest wait.
    aggregator: "max",
    collect() {
      this.reset();
      for (const [limiter, counters] of Object.entries(read().limiters)) {
        this.set({ limiter }, counters.waitMs.maxMs / 1000);
      }
    },
  });

  const perLimiter = (
    suffix: string,
    help: string,
    pick: (counters: MetricsSnapshot["limiters"][string]) => number,
  ): CounterMetric<LimiterLabel> =>
    new Counter<LimiterLabel>({
      name: name(suffix),
      help,
      labelNames: ["limiter"],
      registers,
      collect() {
        this.reset();
        for (const [limiter, counters] of Object.entries(read().limiters))
          this.inc({ limiter }, pick(counters));
      },
    });

  const timeouts = perLimiter(
    "timeouts_total",
    "acquire() calls rejected because the wait would pass their timeout.",
    (c) => c.timeouts,
  );
  const storeErrors = perLimiter("store_errors_total", "Store calls that failed.", (c) => c.storeErrors);
  const localCacheHits = perLimiter(
    "local_cache_hits_total",
    "Denials answered by the local over-limit cache without a store round trip.",
    (c) => c.localCacheHits,
  );
  const degraded = perLimiter(
    "degraded_total",
    "Decisions not made by a healthy store (on_store_error allow, deny or local).",
    (c) => c.degraded,
  );

  const reloads = new Counter<"result">({
    name: name("reloads_total"),
    help: "Config reloads: ok (applied) or error (invalid config, the running one kept).",
    labelNames: ["result"],
    registers,
    collect() {
      const snapshot = read();
      this.reset();
      this.inc({ result: "ok" }, snapshot.reloads);
      this.inc({ result: "error" }, snapshot.reloadErrors);
    },
  });

  const storeKeys = new Gauge<"store">({
    name: name("store_keys"),
    help: "Keys held by a store (memory stores).",
    labelNames: ["store"],
    registers,
    collect() {
      this.reset();
      for (const [store, value] of storeStat(read(), "keys")) this.set({ store }, value);
    },
  });

  const storeEvictions = new Counter<"store">({
    name: name("store_evictions_total"),
    help: "Keys a memory store dropped to stay within max_keys (forgetting usage can only admit more).",
    labelNames: ["store"],
    registers,
    collect() {
      this.reset();
      for (const [store, value] of storeStat(read(), "evictions")) this.inc({ store }, value);
    },
  });

  const breakerOpen = new Gauge<"store">({
    name: name("store_breaker_open"),
    help: "1 while the store's circuit breaker is open (calls fail at once without reaching the store), else 0.",
    labelNames: ["store"],
    registers,
    collect() {
      this.reset();
      for (const [store, stats] of Object.entries(read().stores)) {
        const state = stats.breaker;
        if (typeof state === "string") this.set({ store }, state === "open" ? 1 : 0);
      }
    },
  });

  const metrics: Metric[] = [
    decisions,
    waitSeconds,
    waitMax,
    timeouts,
    storeErrors,
    localCacheHits,
    degraded,
    reloads,
    storeKeys,
    storeEvictions,
    breakerOpen,
  ];
  for (const metric of metrics) registry.registerMetric(metric);

  return () => {
    for (const [i, metric] of metrics.entries()) {
      const metricName = names[i]!;
      // Only ours: after we are gone, somebody else may have registered a metric of the same name.
      if (registry.getSingleMetric(metricName) === metric) registry.removeSingleMetric(metricName);
    }
  };
}

/**
 * Wraps `rs.metrics()` so that one scrape reads one snapshot: prom-client calls every collector in the same
 * synchronous pass, so a snapshot cached until the next microtask is shared by all of them (and the series of
 * one scrape are consistent with each other).
 */
function snapshotPerScrape(rs: MetricsSource): () => MetricsSnapshot {
  let cached: MetricsSnapshot | undefined;
  return () => {
    if (cached === undefined) {
      cached = rs.metrics();
      queueMicrotask(() => {
        cached = undefined;
      });
    }
    return cached;
  };
}

/** The numeric `stat` of every store that reports it. */
function* storeStat(snapshot: MetricsSnapshot, stat: string): Generator<[store: string, value: number]> {
  for (const [store, stats] of Object.entries(snapshot.stores)) {
    const value = stats[stat];
    if (typeof value === "number" && Number.isFinite(value)) yield [store, value];
  }
}
