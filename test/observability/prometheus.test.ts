import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { register as globalRegistry, type OpenMetricsContentType, Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ConfigError,
  InvalidArgumentError,
  type MetricsSnapshot,
  RateSync,
  StoreError,
  type StoreErrorEvent,
} from "../../src/index.ts";
import { collectMetrics } from "../../src/prometheus/index.ts";
import { type Family, parsePrometheusText, sampleValue } from "./prom-text.ts";

const CONFIG = `
[stores.m]
engine = "memory"

# Nothing listens on port 1: every call fails fast, as a store that is down does.
[stores.down]
engine = "redis"
url = "redis://127.0.0.1:1"
timeout = "200ms"

[limiters.win]
store = "m"
algorithm = "fixed_window"
limit = 2
window = "1h"

[limiters.dry]
store = "m"
algorithm = "fixed_window"
limit = 1
window = "1h"
shadow = true

[limiters.bucket]
store = "m"
rate = "20/s"
burst = 1

[limiters."user:<id>"]
store = "m"
algorithm = "fixed_window"
limit = 1
window = "1h"

[limiters.open]
store = "down"
rate = "1/h"
on_store_error = "allow"

[limiters.closed]
store = "down"
rate = "1/h"
on_store_error = "deny"

[limiters.loc]
store = "down"
rate = "1/h"
on_store_error = "local"
`;

async function scrape(registry: Registry): Promise<Map<string, Family>> {
  return parsePrometheusText(await registry.metrics());
}

describe("rate-sync/prometheus exposition", () => {
  let rs: RateSync;
  const storeErrors: StoreErrorEvent[] = [];

  beforeAll(async () => {
    rs = RateSync.fromToml(CONFIG);
    rs.on("storeError", (event) => storeErrors.push(event));
    for (let i = 0; i < 5; i++) await rs.tryAcquire("win");
    for (let i = 0; i < 3; i++) await rs.tryAcquire("dry");
    for (let i = 0; i < 3; i++) await rs.acquire("bucket", { timeout: "5s" });
    for (let i = 0; i < 4; i++) await rs.tryAcquire(`user:${i % 3}`);
    for (const id of ["open", "closed", "loc"]) {
      for (let i = 0; i < 3; i++) await rs.tryAcquire(id);
    }
    await expect(rs.acquire("closed", { timeout: "1s" })).rejects.toBeInstanceOf(StoreError);
  });
  afterAll(async () => {
    await rs.close();
  });

  it("counts store errors and degraded decisions under each on_store_error policy", () => {
    const { limiters } = rs.metrics();
    expect(limiters.open).toMatchObject({ allowed: 3, denied: 0, storeErrors: 3, degraded: 3 });
    // Three tryAcquire and one acquire that gave up at once on the store error.
    expect(limiters.closed).toMatchObject({
      allowed: 0,
      denied: 4,
      storeErrors: 4,
      degraded: 4,
      timeouts: 0,
    });
    // The local stand-in enforces 1/h itself.
    expect(limiters.loc).toMatchObject({ allowed: 1, denied: 2, storeErrors: 3, degraded: 3 });
    const eventsPer = (id: string) =>
      storeErrors.filter((e) => e.limiter === id && e.store === "down").length;
    expect([eventsPer("open"), eventsPer("closed"), eventsPer("loc")]).toEqual([3, 4, 3]);
  });

  it("exposes every counter, read back from the text format, equal to rs.metrics() and to what happened", async () => {
    const registry = new Registry();
    const unregister = collectMetrics(rs, { registry });
    const families = await scrape(registry);
    const snapshot: MetricsSnapshot = rs.metrics();

    expect(families.get("ratesync_decisions_total")?.type).toBe("counter");
    expect(families.get("ratesync_wait_seconds")?.type).toBe("summary");
    expect(families.get("ratesync_wait_seconds_max")?.type).toBe("gauge");
    expect(families.get("ratesync_reloads_total")?.type).toBe("counter");
    expect(families.get("ratesync_store_keys")?.type).toBe("gauge");
    for (const family of families.values()) expect(family.help.length).toBeGreaterThan(0);

    for (const [limiter, c] of Object.entries(snapshot.limiters)) {
      const value = (name: string, labels: Record<string, string> = {}) =>
        sampleValue(families, name, { limiter, ...labels });
      expect(value("ratesync_decisions_total", { outcome: "allowed" })).toBe(c.allowed);
      expect(value("ratesync_decisions_total", { outcome: "denied" })).toBe(c.denied);
      expect(value("ratesync_decisions_total", { outcome: "shadow_denied" })).toBe(c.shadowDenied);
      expect(value("ratesync_wait_seconds_count")).toBe(c.waitMs.count);
      expect(value("ratesync_wait_seconds_sum")).toBeCloseTo(c.waitMs.sumMs / 1000, 9);
      expect(value("ratesync_wait_seconds_max")).toBeCloseTo(c.waitMs.maxMs / 1000, 9);
      expect(value("ratesync_timeouts_total")).toBe(c.timeouts);
      expect(value("ratesync_store_errors_total")).toBe(c.storeErrors);
      expect(value("ratesync_local_cache_hits_total")).toBe(c.localCacheHits);
      expect(value("ratesync_degraded_total")).toBe(c.degraded);
    }

    // And against what the calls above did, so a counter wrong in both places still fails.
    const decisions = (limiter: string, outcome: string) =>
      sampleValue(families, "ratesync_decisions_total", { limiter, outcome });
    expect([decisions("win", "allowed"), decisions("win", "denied")]).toEqual([2, 3]);
    expect([decisions("dry", "allowed"), decisions("dry", "shadow_denied")]).toEqual([3, 2]);
    expect([decisions("user:<id>", "allowed"), decisions("user:<id>", "denied")]).toEqual([3, 1]);
    expect(decisions("closed", "denied")).toBe(4);
    expect(sampleValue(families, "ratesync_wait_seconds_count", { limiter: "bucket" })).toBe(2);
    expect(sampleValue(families, "ratesync_wait_seconds_sum", { limiter: "bucket" })).toBeGreaterThan(0);
    expect(sampleValue(families, "ratesync_store_errors_total", { limiter: "closed" })).toBe(4);
    expect(sampleValue(families, "ratesync_degraded_total", { limiter: "loc" })).toBe(3);

    // Memory stores report their keys; the Redis store reports its breaker instead.
    expect(sampleValue(families, "ratesync_store_keys", { store: "m" })).toBe(snapshot.stores.m?.keys);
    expect(families.get("ratesync_store_keys")?.samples.map((s) => s.labels.store)).toEqual(["m"]);
    expect(sampleValue(families, "ratesync_store_evictions_total", { store: "m" })).toBe(0);
    const breaker = sampleValue(families, "ratesync_store_breaker_open", { store: "down" });
    expect(breaker).toBe(snapshot.stores.down?.breaker === "open" ? 1 : 0);

    expect(sampleValue(families, "ratesync_reloads_total", { result: "ok" })).toBe(0);
    expect(sampleValue(families, "ratesync_reloads_total", { result: "error" })).toBe(0);
    unregister();
  });

  it("reads the counters at scrape time only, one snapshot per scrape", async () => {
    let reads = 0;
    const source = {
      metrics: () => {
        reads++;
        return rs.metrics();
      },
    };
    const registry = new Registry();
    const unregister = collectMetrics(source, { registry });
    await rs.tryAcquire("win");
    expect(reads).toBe(0);
    const before = sampleValue(await scrape(registry), "ratesync_decisions_total", {
      limiter: "win",
      outcome: "denied",
    });
    expect(reads).toBe(1);
    await rs.tryAcquire("win");
    const after = sampleValue(await scrape(registry), "ratesync_decisions_total", {
      limiter: "win",
      outcome: "denied",
    });
    expect(reads).toBe(2);
    expect(after).toBe(before + 1);
    unregister();
  });

  it("takes a prefix, refuses a bad one, and refuses to register twice without touching the registry", async () => {
    const registry = new Registry();
    const unregister = collectMetrics(rs, { registry, prefix: "app_rl_" });
    expect(registry.getSingleMetric("app_rl_decisions_total")).toBeDefined();
    expect(registry.getSingleMetric("ratesync_decisions_total")).toBeUndefined();

    const before = registry.getMetricsAsArray().length;
    expect(() => collectMetrics(rs, { registry, prefix: "app_rl_" })).toThrow(InvalidArgumentError);
    expect(registry.getMetricsAsArray().length).toBe(before);
    // A second instance in the same registry works under another prefix.
    const other = collectMetrics(rs, { registry, prefix: "other_" });
    expect(registry.getMetricsAsArray().length).toBe(2 * before);
    other();
    unregister();

    for (const prefix of ["1abc", "a-b", "ratesync "]) {
      expect(() => collectMetrics(rs, { registry, prefix })).toThrow(InvalidArgumentError);
    }
    expect(registry.getMetricsAsArray()).toEqual([]);
  });

  it("unregisters everything it registered, once, and nothing else", async () => {
    const registry = new Registry();
    const unregister = collectMetrics(rs, { registry });
    expect((await registry.metrics()).includes("ratesync_decisions_total")).toBe(true);
    unregister();
    expect(registry.getMetricsAsArray()).toEqual([]);
    expect((await registry.metrics()).trim()).toBe("");

    // A metric of the same name registered by somebody else afterwards is left alone by a second call.
    const again = collectMetrics(rs, { registry });
    unregister();
    expect(registry.getMetricsAsArray().length).toBeGreaterThan(0);
    again();
    expect(registry.getMetricsAsArray()).toEqual([]);
  });

  it("uses prom-client's global registry by default", async () => {
    const unregister = collectMetrics(rs);
    try {
      expect(globalRegistry.getSingleMetric("ratesync_decisions_total")).toBeDefined();
      const families = parsePrometheusText(await globalRegistry.metrics());
      expect(sampleValue(families, "ratesync_decisions_total", { limiter: "dry", outcome: "allowed" })).toBe(
        3,
      );
    } finally {
      unregister();
    }
    expect(globalRegistry.getSingleMetric("ratesync_decisions_total")).toBeUndefined();
  });

  it("also renders in the OpenMetrics format", async () => {
    const registry = new Registry<OpenMetricsContentType>();
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    const unregister = collectMetrics(rs, { registry });
    const text = await registry.metrics();
    expect(text).toContain("# TYPE ratesync_decisions counter");
    expect(text).toMatch(/^ratesync_decisions_total\{limiter="win",outcome="allowed"\} 2$/m);
    expect(text).toMatch(/^ratesync_wait_seconds_count\{limiter="bucket"\} 2$/m);
    expect(text.endsWith("# EOF\n")).toBe(true);
    unregister();
  });
});

describe("label sets stay bounded by the config", () => {
  it("exports one series per limiter id after 100,000 distinct keys", async () => {
    const rs = RateSync.fromConfig({
      stores: { m: { engine: "memory" } },
      limiters: {
        "tenant:<id>": { store: "m", algorithm: "fixed_window", limit: 1, window: "1h" },
        global: { store: "m", rate: "1000000/s" },
      },
    });
    const registry = new Registry();
    const unregister = collectMetrics(rs, { registry });
    const batch: Promise<unknown>[] = [];
    for (let i = 0; i < 100_000; i++) {
      batch.push(rs.tryAcquire(`tenant:${i}`));
      if (batch.length === 1000) await Promise.all(batch.splice(0));
    }
    await Promise.all(batch);
    await rs.tryAcquire("tenant:0"); // denied: its own state, under the template's id

    const families = await scrape(registry);
    const limiterValues = new Set<string>();
    let series = 0;
    for (const family of families.values()) {
      for (const sample of family.samples) {
        series++;
        const limiter = sample.labels.limiter;
        if (limiter !== undefined) limiterValues.add(limiter);
      }
    }
    expect([...limiterValues].sort()).toEqual(["global", "tenant:<id>"]);
    // Every family has a fixed number of series per limiter (or per store, or per result).
    expect(series).toBeLessThan(40);
    expect(
      sampleValue(families, "ratesync_decisions_total", { limiter: "tenant:<id>", outcome: "allowed" }),
    ).toBe(100_000);
    expect(
      sampleValue(families, "ratesync_decisions_total", { limiter: "tenant:<id>", outcome: "denied" }),
    ).toBe(1);
    expect(sampleValue(families, "ratesync_store_keys", { store: "m" })).toBe(100_000);
    unregister();
    await rs.close();
  });
});

describe("reloads", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "rate-sync-observability-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("counts applied and rejected reloads as ratesync_reloads_total{result}", async () => {
    const file = join(dir, "rate-sync.toml");
    await writeFile(file, '[limiters.api]\nrate = "10/s"\n');
    const rs = await RateSync.fromFile(file);
    const registry = new Registry();
    const unregister = collectMetrics(rs, { registry });
    const events: string[] = [];
    rs.on("reload", () => events.push("reload"));
    rs.on("reloadError", () => events.push("reloadError"));

    await writeFile(file, '[limiters.api]\nrate = "20/s"\n');
    await rs.reload();
    await writeFile(file, '[limiters.api]\nrate = "twenty"\n');
    await expect(rs.reload()).rejects.toBeInstanceOf(ConfigError);
    await writeFile(file, '[limiters.api]\nrate = "30/s"\n\n[limiters.new]\nrate = "1/s"\n');
    await rs.reload();

    const families = await scrape(registry);
    expect(sampleValue(families, "ratesync_reloads_total", { result: "ok" })).toBe(2);
    expect(sampleValue(families, "ratesync_reloads_total", { result: "error" })).toBe(1);
    expect(events).toEqual(["reload", "reloadError", "reload"]);
    // A limiter added by a reload shows up at the next scrape.
    expect(sampleValue(families, "ratesync_decisions_total", { limiter: "new", outcome: "allowed" })).toBe(0);
    unregister();
    await rs.close();
  });
});
