/**
 * @module
 * `rate-sync/otel`: exports a RateSync instance's metrics through the OpenTelemetry metrics API
 * (`@opentelemetry/api`, an optional peer dependency). Names follow ASP.NET Core's stable rate-limiting metrics
 * (`aspnetcore.rate_limiting.*` → `rate_sync.*`) where they fit, and the Prometheus exporter's otherwise.
 * Attributes are limiter or template ids, store ids and fixed results only, never raw keys: cardinality is
 * bounded by the config, exactly as in `rate-sync/prometheus`.
 *
 * @example
 * ```ts
 * import { collectMetrics } from "rate-sync/otel";
 * const stop = collectMetrics(rs); // the global MeterProvider
 * ```
 */

import { createRequire } from "node:module";
import type * as OtelApi from "@opentelemetry/api";
import type { MetricsSnapshot } from "../core/metrics.ts";
import type { LeaseReleasedEvent, WaitEvent } from "../core/types.ts";
import { StoreUnavailableError } from "../errors.ts";

/**
 * Required, not imported: a static import of a missing package fails before any of our code runs, so nothing
 * could say which package to install. `@opentelemetry/api` keeps its global state on `globalThis`, so this copy
 * sees the MeterProvider an `import` of it registered.
 */
function loadApi(): typeof OtelApi {
  try {
    return createRequire(import.meta.url)("@opentelemetry/api") as typeof OtelApi;
  } catch (error) {
    throw new StoreUnavailableError("rate-sync/otel", "@opentelemetry/api", {
      cause: error,
      entryPoint: true,
    });
  }
}
const api = loadApi();

/** What {@link collectMetrics} reads: a `RateSync` instance, typically. */
export interface OtelMetricsSource {
  metrics(): MetricsSnapshot;
  on(event: "wait", listener: (event: WaitEvent) => void): () => void;
  on(event: "leaseReleased", listener: (event: LeaseReleasedEvent) => void): () => void;
}

/** Options of {@link collectMetrics}. */
export interface OtelMetricsOptions {
  /**
   * Where the meter comes from.
   * @default the global MeterProvider (`metrics.getMeterProvider()` of `@opentelemetry/api`)
   */
  readonly meterProvider?: OtelApi.MeterProvider;
}

/** Stops what {@link collectMetrics} started. Idempotent. */
export type StopMetrics = () => void;

/** Bucket boundaries (seconds) of the two duration histograms: ASP.NET Core's, for the same metrics. */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

/** The meter's (instrumentation scope's) name. */
export const METER_NAME = "rate-sync";

/**
 * Registers rate-sync's instruments on a meter of `options.meterProvider`. Counters and gauges are read from
 * `rs.metrics()` once per collection (one batch callback); the two histograms are fed by the `wait` and
 * `leaseReleased` events.
 *
 * Instruments (attribute `rate_sync.limiter` = limiter or template id, unless said otherwise):
 * - `rate_sync.requests` (counter, `{request}`) with `rate_sync.result` = `acquired` | `denied` |
 *   `shadow_denied`: every call counts once (`shadow_denied`: a shadow limiter let it through over the limit).
 * - `rate_sync.active_request_leases` (up-down counter): concurrency slots this process holds now.
 * - `rate_sync.request_lease.duration` (histogram, `s`): how long each slot was held.
 * - `rate_sync.queued_requests` (up-down counter): `acquire()` calls waiting now.
 * - `rate_sync.request.time_in_queue` (histogram, `s`) with `rate_sync.result` = `acquired` | `denied` |
 *   `canceled`: how long calls that waited waited.
 * - `rate_sync.timeouts`, `rate_sync.store_errors`, `rate_sync.local_cache_hits`, `rate_sync.degraded`
 *   (counters, as in the Prometheus exporter).
 * - `rate_sync.reloads` (counter) with `rate_sync.result` = `ok` | `error`.
 * - `rate_sync.store.keys` (gauge), `rate_sync.store.evictions` (counter), `rate_sync.store.breaker_open`
 *   (gauge, 1 while open) with `rate_sync.store` = store id, for the stores that report them.
 *
 * @returns a function that removes the callback and the event listeners.
 * @example
 * ```ts
 * const stop = collectMetrics(rs, { meterProvider });
 * ```
 */
export function collectMetrics(rs: OtelMetricsSource, options: OtelMetricsOptions = {}): StopMetrics {
  const provider = options.meterProvider ?? api.metrics.getMeterProvider();
  const meter = provider.getMeter(METER_NAME);
  const requests = meter.createObservableCounter("rate_sync.requests", {
    description: "Calls decided, by limiter and result.",
    unit: "{request}",
  });
  const activeLeases = meter.createObservableUpDownCounter("rate_sync.active_request_leases", {
    description: "Concurrency slots this process holds now.",
    unit: "{request}",
  });
  const queued = meter.createObservableUpDownCounter("rate_sync.queued_requests", {
    description: "acquire() calls waiting now.",
    unit: "{request}",
  });
  const perLimiter = (name: string, description: string) =>
    meter.createObservableCounter(`rate_sync.${name}`, { description, unit: "{request}" });
  const timeouts = perLimiter(
    "timeouts",
    "acquire() calls rejected because the wait would pass their timeout.",
  );
  const storeErrors = perLimiter("store_errors", "Store calls that failed.");
  const cacheHits = perLimiter("local_cache_hits", "Denials answered by the local over-limit cache.");
  const degraded = perLimiter("degraded", "Decisions not made by a healthy store.");
  const reloads = meter.createObservableCounter("rate_sync.reloads", {
    description: "Config reloads: ok (applied) or error (invalid, the running config kept).",
  });
  const storeKeys = meter.createObservableGauge("rate_sync.store.keys", {
    description: "Keys held by a store (memory stores).",
    unit: "{key}",
  });
  const evictions = meter.createObservableCounter("rate_sync.store.evictions", {
    description: "Keys a memory store dropped to stay within max_keys.",
    unit: "{key}",
  });
  const breakerOpen = meter.createObservableGauge("rate_sync.store.breaker_open", {
    description: "1 while the store's circuit breaker is open, else 0.",
  });
  const leaseDuration = meter.createHistogram("rate_sync.request_lease.duration", {
    description: "How long concurrency slots were held.",
    unit: "s",
    advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
  });
  const timeInQueue = meter.createHistogram("rate_sync.request.time_in_queue", {
    description: "How long acquire() calls that waited waited.",
    unit: "s",
    advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
  });

  const observables = [
    requests,
    activeLeases,
    queued,
    timeouts,
    storeErrors,
    cacheHits,
    degraded,
    reloads,
    storeKeys,
    evictions,
    breakerOpen,
  ];
  const callback: OtelApi.BatchObservableCallback = (result) => {
    // One snapshot per collection: every series of one export is consistent with the others.
    const snapshot = rs.metrics();
    for (const [limiter, c] of Object.entries(snapshot.limiters)) {
      const at = { "rate_sync.limiter": limiter };
      result.observe(requests, c.allowed - c.shadowDenied, { ...at, "rate_sync.result": "acquired" });
      result.observe(requests, c.denied, { ...at, "rate_sync.result": "denied" });
      result.observe(requests, c.shadowDenied, { ...at, "rate_sync.result": "shadow_denied" });
      result.observe(activeLeases, c.activeLeases, at);
      result.observe(queued, c.waiting, at);
      result.observe(timeouts, c.timeouts, at);
      result.observe(storeErrors, c.storeErrors, at);
      result.observe(cacheHits, c.localCacheHits, at);
      result.observe(degraded, c.degraded, at);
    }
    result.observe(reloads, snapshot.reloads, { "rate_sync.result": "ok" });
    result.observe(reloads, snapshot.reloadErrors, { "rate_sync.result": "error" });
    for (const [store, stats] of Object.entries(snapshot.stores)) {
      const at = { "rate_sync.store": store };
      if (typeof stats.keys === "number") result.observe(storeKeys, stats.keys, at);
      if (typeof stats.evictions === "number") result.observe(evictions, stats.evictions, at);
      if (typeof stats.breaker === "string")
        result.observe(breakerOpen, stats.breaker === "open" ? 1 : 0, at);
    }
  };
  meter.addBatchObservableCallback(callback, observables);
  const offWait = rs.on("wait", (event) => {
    timeInQueue.record(event.waitedMs / 1000, {
      "rate_sync.limiter": event.limiter,
      "rate_sync.result": event.result,
    });
  });
  const offLease = rs.on("leaseReleased", (event) => {
    leaseDuration.record(event.heldMs / 1000, { "rate_sync.limiter": event.limiter });
  });

  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    meter.removeBatchObservableCallback(callback, observables);
    offWait();
    offLease();
  };
}
