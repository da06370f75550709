import { describe, expect, it } from "vitest";
import {
  ConfigError,
  type ConfigProvider,
  DynamicConfig,
  type LimiterDefinition,
  RateSync,
} from "../../src/index.ts";

describe("DynamicConfig (SPEC §4.1)", () => {
  it("validates on construction and on update, changing nothing on a bad patch", () => {
    expect(() => new DynamicConfig({ rate: "fast" })).toThrow(ConfigError);
    const dc = new DynamicConfig({ rate: "10/s" });
    const seen: LimiterDefinition[] = [];
    const stop = dc.subscribe((d) => seen.push(d));
    dc.update({ burst: 20 });
    expect(dc.get()).toEqual({ rate: "10/s", burst: 20 });
    expect(() => dc.update({ limit: 5 })).toThrow(ConfigError);
    expect(() => dc.update({ burst: -1 })).toThrow(/burst/);
    expect(dc.get()).toEqual({ rate: "10/s", burst: 20 });
    stop();
    dc.update({ burst: undefined });
    expect(dc.get()).toEqual({ rate: "10/s" });
    expect(seen).toHaveLength(1);
  });

  it("validates a bound config against its instance (unknown store)", async () => {
    const rs = RateSync.fromConfig({ limiters: { api: { rate: "10/s" } } });
    expect(() => rs.dynamic("api").update({ store: "nowhere" })).toThrow(/unknown store "nowhere"/);
    expect(rs.dynamic("api").get()).toEqual({ rate: "10/s" });
    await rs.close();
  });

  it("plugs any { get, subscribe } provider as the source of a limiter", async () => {
    let current: LimiterDefinition = { algorithm: "fixed_window", limit: 1, window: "1h" };
    const listeners = new Set<(d: LimiterDefinition) => void>();
    const flags: ConfigProvider = {
      get: () => current,
      subscribe(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    const push = (next: LimiterDefinition) => {
      current = next;
      for (const l of listeners) l(next);
    };
    const rs = RateSync.fromConfig({});
    const errors: ConfigError[] = [];
    rs.on("reloadError", (e) => errors.push(e));
    rs.configure("flagged", undefined, { provider: flags });
    expect((await rs.tryAcquire("flagged")).allowed).toBe(true);
    expect((await rs.tryAcquire("flagged")).allowed).toBe(false);
    push({ algorithm: "fixed_window", limit: 3, window: "1h" });
    expect((await rs.tryAcquire("flagged")).allowed).toBe(true);
    // An invalid push is reported and ignored: the limiter keeps its last good definition.
    push({ algorithm: "fixed_window", limit: 0, window: "1h" });
    expect(errors).toHaveLength(1);
    expect((await rs.tryAcquire("flagged")).limit).toBe(3);
    await rs.close();
    expect(listeners.size).toBe(0);
  });
});
