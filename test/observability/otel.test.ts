/**
 * `rate-sync/otel` against the OpenTelemetry SDK: a MeterProvider with the SDK's in-memory exporter.
 */

import {
  AggregationTemporality,
  type DataPoint,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import { afterEach, describe, expect, it } from "vitest";
import { RateSync } from "../../src/core/rate-sync.ts";
import { collectMetrics } from "../../src/otel/index.ts";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // A long interval: exports happen only when the test flushes.
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const rs = RateSync.fromConfig({
    limiters: {
      "api:<id>": { rate: "2/min", burst: 2 },
      dry: { rate: "1/min", burst: 1, shadow: true },
      "up:<id>": { max_concurrent: 1 },
    },
  });
  const stop = collectMetrics(rs, { meterProvider });
  cleanups.push(
    () => rs.close(),
    () => meterProvider.shutdown(),
    stop,
  );
  async function collect(): Promise<Map<string, MetricData>> {
    exporter.reset();
    await reader.forceFlush();
    const all = exporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics));
    return new Map(all.map((m) => [m.descriptor.name, m]));
  }
  return { rs, collect, stop };
}

function points(metric: MetricData | undefined): { attributes: object; value: unknown }[] {
  expect(metric).toBeDefined();
  return (metric!.dataPoints as DataPoint<unknown>[]).map((p) => ({
    attributes: p.attributes,
    value: p.value,
  }));
}

describe("rate-sync/otel", () => {
  it("counts requests by limiter or template id and result, never by raw key", async () => {
    const { rs, collect } = await setup();
    for (let i = 0; i < 3; i++) await rs.tryAcquire("api:alice");
    for (let i = 0; i < 50; i++) await rs.tryAcquire(`api:user-${i}`);
    await rs.tryAcquire("dry");
    await rs.tryAcquire("dry");
    const metrics = await collect();
    const requests = points(metrics.get("rate_sync.requests")).filter(
      (p) => (p.attributes as Record<string, string>)["rate_sync.limiter"] !== "up:<id>",
    );
    expect(requests).toEqual(
      expect.arrayContaining([
        { attributes: { "rate_sync.limiter": "api:<id>", "rate_sync.result": "acquired" }, value: 52 },
        { attributes: { "rate_sync.limiter": "api:<id>", "rate_sync.result": "denied" }, value: 1 },
        { attributes: { "rate_sync.limiter": "api:<id>", "rate_sync.result": "shadow_denied" }, value: 0 },
        { attributes: { "rate_sync.limiter": "dry", "rate_sync.result": "acquired" }, value: 1 },
        { attributes: { "rate_sync.limiter": "dry", "rate_sync.result": "shadow_denied" }, value: 1 },
      ]),
    );
    // Bounded: 3 limiters × 3 results, whatever the number of keys.
    expect(points(metrics.get("rate_sync.requests"))).toHaveLength(9);
    expect(metrics.get("rate_sync.requests")?.descriptor.unit).toBe("{request}");
    expect(points(metrics.get("rate_sync.reloads"))).toEqual([
      { attributes: { "rate_sync.result": "ok" }, value: 0 },
      { attributes: { "rate_sync.result": "error" }, value: 0 },
    ]);
    expect(points(metrics.get("rate_sync.store.keys"))).toEqual([
      { attributes: { "rate_sync.store": "memory" }, value: 52 },
    ]);
  });

  it("reports active leases and their durations, queued requests and their time in queue", async () => {
    const { rs, collect } = await setup();
    const held = await rs.acquire("up:1");
    const waiter = rs.acquire("up:1", { timeout: "5s" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    let metrics = await collect();
    const up = { "rate_sync.limiter": "up:<id>" };
    expect(points(metrics.get("rate_sync.active_request_leases"))).toContainEqual({
      attributes: up,
      value: 1,
    });
    expect(points(metrics.get("rate_sync.queued_requests"))).toContainEqual({ attributes: up, value: 1 });
    await held.release();
    const second = await waiter;
    await second.release();
    metrics = await collect();
    expect(points(metrics.get("rate_sync.active_request_leases"))).toContainEqual({
      attributes: up,
      value: 0,
    });
    expect(points(metrics.get("rate_sync.queued_requests"))).toContainEqual({ attributes: up, value: 0 });
    const leases = points(metrics.get("rate_sync.request_lease.duration"));
    expect(leases).toHaveLength(1);
    expect(leases[0]!.attributes).toEqual(up);
    expect(leases[0]!.value).toMatchObject({ count: 2 });
    const queue = points(metrics.get("rate_sync.request.time_in_queue"));
    expect(queue).toEqual([
      { attributes: { ...up, "rate_sync.result": "acquired" }, value: expect.objectContaining({ count: 1 }) },
    ]);
    expect(metrics.get("rate_sync.request.time_in_queue")?.descriptor.unit).toBe("s");
  });

  it("stops reading and listening once stopped", async () => {
    const { rs, collect, stop } = await setup();
    stop();
    stop();
    await rs.tryAcquire("api:a");
    const metrics = await collect();
    expect(metrics.get("rate_sync.requests")).toBeUndefined();
  });
});
