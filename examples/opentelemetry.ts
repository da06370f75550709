/**
 * rate-sync's metrics through OpenTelemetry: a MeterProvider with a reader (here the SDK's in-memory exporter,
 * which prints what it got; in production an OTLP or Prometheus exporter), `collectMetrics(rs, { meterProvider })`,
 * a few decisions, one collection.
 * Run: `npx tsx --tsconfig tsconfig.test.json examples/opentelemetry.ts`
 */
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import { RateSync } from "rate-sync";
import { collectMetrics } from "rate-sync/otel";

const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
const meterProvider = new MeterProvider({ readers: [reader] });

const rs = RateSync.fromConfig({ limiters: { "api:<user>": { rate: "5/min", burst: 3 } } });
const stop = collectMetrics(rs, { meterProvider });

for (let i = 0; i < 5; i++) await rs.tryAcquire("api:ada"); // 3 acquired, 2 denied
await reader.forceFlush();

// Series carry the limiter (the template id), never the key: cardinality stays bounded.
for (const { scopeMetrics } of exporter.getMetrics()) {
  for (const { descriptor, dataPoints } of scopeMetrics.flatMap((s) => s.metrics)) {
    for (const point of dataPoints) {
      if (typeof point.value !== "number" || point.value === 0) continue;
      console.log(descriptor.name, JSON.stringify(point.attributes), point.value);
    }
  }
}

stop();
await meterProvider.shutdown();
await rs.close();
