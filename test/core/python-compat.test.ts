import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MemoryStore, RateSync } from "../../src/index.ts";
import { FakeClock } from "../helpers/clock.ts";

// The configuration examples of rate-sync (Python)'s documentation, unchanged.
const PYTHON_DOC_TOML = `
[stores.main]
engine = "memory"

[limiters.api]
store = "main"
rate_per_second = 10.0

[limiters.auth_credential]
store = "main"
algorithm = "sliding_window"
limit = 5                # 5 attempts
window_seconds = 300     # per 5 minutes

[limiters.upload]
store = "main"
max_concurrent = 10          # max 10 uploads at once
timeout = 300.0

[limiters.external_api]
store = "main"
rate_per_second = 100.0  # Max 100 req/sec
max_concurrent = 10      # Max 10 in-flight requests
timeout = 30.0           # Wait up to 30s for a slot
`;

describe("rate-sync (Python) configs behave as its documentation promises", () => {
  const clock = new FakeClock();
  let rs: RateSync;
  beforeEach(() => {
    rs = RateSync.fromToml(PYTHON_DOC_TOML, {
      stores: { main: new MemoryStore({ id: "main", now: clock.now }) },
    });
  });
  afterEach(async () => {
    await rs.close();
    vi.useRealTimers();
  });

  it("loads with the documented meaning", () => {
    const api = rs.explain("api")!;
    expect(api.rate).toEqual({ kind: "token_bucket", intervalMs: 100, burst: 10 });
    expect(api.timeoutMs).toBeNull();
    expect(rs.explain("auth_credential")!.rate).toEqual({
      kind: "sliding_window",
      limit: 5,
      windowMs: 300_000,
    });
    expect(rs.explain("upload")!.timeoutMs).toBe(300_000);
    expect(rs.explain("external_api")!.concurrency?.maxConcurrent).toBe(10);
  });

  it("really enforces rate_per_second: the burst at once, then exactly one call per 100 ms", async () => {
    let admitted = 0;
    // Hammer it every millisecond for 10 seconds of store time.
    for (let ms = 0; ms < 10_000; ms++) {
      if ((await rs.tryAcquire("api")).allowed) admitted++;
      clock.advance(1);
    }
    // The full burst of 10 at t = 0, then one refill every 100 ms: at 100, 200, …, 9900.
    expect(admitted).toBe(10 + 99);
  });

  it("limits login attempts with a 5-minute sliding window", async () => {
    for (let i = 0; i < 5; i++) expect((await rs.tryAcquire("auth_credential:bob")).allowed).toBe(true);
    const denied = await rs.tryAcquire("auth_credential:bob");
    expect(denied.allowed).toBe(false);
    expect(denied.retryAfterMs).toBe(300_000);
    clock.advance(300_000);
    expect((await rs.tryAcquire("auth_credential:bob")).allowed).toBe(true);
  });

  it("acquire() blocks until the limit allows (no timeout configured)", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    for (let i = 0; i < 10; i++) await rs.acquire("api");
    let done = false;
    const pending = rs.acquire("api").then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(50);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(60);
    await pending;
    expect(done).toBe(true);
  });
});
