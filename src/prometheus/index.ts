/**
 * @module
 * `rate-sync/prometheus`: exports a RateSync instance's counters to Prometheus through prom-client (an optional
 * peer dependency, loaded only by this entry). Values are read at scrape time; deciding costs nothing extra.
 *
 * @example
 * ```ts
 * import { collectMetrics } from "rate-sync/prometheus";
 * const unregister = collectMetrics(rs); // prom-client's global registry, metrics named ratesync_*
 * ```
 */

export {
  type CollectMetricsOptions,
  collectMetrics,
  DEFAULT_METRIC_PREFIX,
  type MetricsSource,
  type UnregisterMetrics,
} from "./collect-metrics.ts";
