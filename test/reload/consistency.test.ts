/**
 * SPEC §4.1–4.2: a call in flight during a reload is decided with one whole config (old or new, never a mix),
 * and the other sources of change — `DynamicConfig.update` and `{ get, subscribe }` providers — live alongside
 * file reloads.
 */

import { afterEach, describe, expect, it } from "vitest";
import {
  type BatchResult,
  ConfigError,
  type ConfigProvider,
  type LimiterDefinition,
  MemoryStore,
  type OpResult,
  RateSync,
  type Store,
  type StoreOp,
} from "../../src/index.ts";
import { ConfigFile, removeDir, tempDir, waitFor } from "./files.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A real memory store whose decisions can be held at a gate, so a test can run a reload while a decision is
 * in flight. Records the ops of every decision.
 */
class GatedStore implements Store {
  readonly id = "main";
  readonly engine = "memory" as const;
  readonly decided: (readonly StoreOp[])[] = [];
  readonly #inner = new MemoryStore({ id: "main" });
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;
  waiting = 0;

  /** Holds every later decision until `open()`. */
  hold(): void {
    this.#gate = new Promise((resolve) => {
      this.#open = resolve;
    });
  }

  open(): void {
    this.#open?.();
    this.#gate = undefined;
  }

  async decide(ops: readonly StoreOp[], maxWaitMs: number): Promise<BatchResult> {
    this.decided.push(ops);
    if (this.#gate) {
      this.waiting++;
      await this.#gate;
      this.waiting--;
    }
    return this.#inner.decide(ops, maxWaitMs);
  }
  peek(op: StoreOp): Promise<OpResult> {
    return this.#inner.peek(op);
  }
  refund(ops: readonly StoreOp[]): Promise<void> {
    return this.#inner.refund(ops);
  }

  charge(ops: readonly StoreOp[]): Promise<void> {
    return this.#inner.charge(ops);
  }
  reset(limiterId: string, key: string): Promise<void> {
    return this.#inner.reset(limiterId, key);
  }
  release(limiterId: string, key: string, leaseId: string): Promise<void> {
    return this.#inner.release(limiterId, key, leaseId);
  }
  renew(limiterId: string, key: string, leaseId: string, leaseMs: number): Promise<boolean> {
    return this.#inner.renew(limiterId, key, leaseId, leaseMs);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

const two = (limit: number) =>
  ["a", "b"]
    .map((id) => `[limiters.${id}]\nalgorithm = "fixed_window"\nlimit = ${limit}\nwindow = "1h"\n`)
    .join("");

function limitsOf(ops: readonly StoreOp[]): number[] {
  return ops.map((op) => ("limit" in op.params ? op.params.limit : Number.NaN));
}

describe("a call in flight during a reload", () => {
  it("a composite is decided wholly with the config it started with; the next call with the new one", async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const file = new ConfigFile(dir, "in-place", `[stores.main]\nengine = "memory"\n${two(2)}`);
    const store = new GatedStore();
    const rs = await RateSync.fromFile(file.path, { stores: { main: store } });
    cleanups.push(() => rs.close());

    store.hold();
    const inFlight = rs.tryAcquire(["a", "b"]);
    await waitFor("the decision to reach the store", () => store.waiting === 1);
    file.save(`[stores.main]\nengine = "memory"\n${two(5)}`);
    expect(await rs.reload()).toEqual({ added: [], removed: [], changed: ["a", "b"] });
    store.open();

    const old = await inFlight;
    expect(old.results?.map((r) => r.limit)).toEqual([2, 2]);
    expect(limitsOf(store.decided[0] ?? [])).toEqual([2, 2]);
    const next = await rs.tryAcquire(["a", "b"]);
    expect(next.results?.map((r) => r.limit)).toEqual([5, 5]);
    expect(limitsOf(store.decided[1] ?? [])).toEqual([5, 5]);
  });

  it("a waiting acquire keeps the config it started with across its retries", async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const limiter = (limit: number) =>
      `[limiters.a]\nalgorithm = "sliding_window"\nlimit = ${limit}\nwindow = "300ms"\n`;
    const file = new ConfigFile(dir, "in-place", `[stores.main]\nengine = "memory"\n${limiter(1)}`);
    const store = new GatedStore();
    const rs = await RateSync.fromFile(file.path, { stores: { main: store } });
    cleanups.push(() => rs.close());

    expect((await rs.tryAcquire("a")).allowed).toBe(true);
    const waiting = rs.acquire("a", { timeout: "5s" });
    await waitFor("the first denied try", () => store.decided.length >= 2);
    file.save(`[stores.main]\nengine = "memory"\n${limiter(9)}`);
    await rs.reload();
    const lease = await waiting;
    expect(lease.decision.limit).toBe(1);
    // Every try of that one call (at least one of them after the reload) asked with limit 1.
    const tries = store.decided.length - 1;
    expect(tries).toBeGreaterThanOrEqual(2);
    expect(store.decided.slice(1).map(limitsOf)).toEqual(Array.from({ length: tries }, () => [1]));
    // Calls after the reload ask with 9.
    expect((await rs.tryAcquire("a")).limit).toBe(9);
  });
});

describe("DynamicConfig and providers beside file reloads", () => {
  it("update(): clones of a template follow; a bad patch throws and changes nothing", async () => {
    const rs = RateSync.fromConfig({
      limiters: { "tenant:<id>": { algorithm: "fixed_window", limit: 1, window: "1h" } },
    });
    cleanups.push(() => rs.close());
    const acme = rs.limiter("tenant:acme");
    expect((await acme.tryAcquire()).allowed).toBe(true);
    expect((await acme.tryAcquire()).allowed).toBe(false);

    const dynamic = rs.dynamic("tenant:<id>");
    const seen: LimiterDefinition[] = [];
    dynamic.subscribe((definition) => seen.push(definition));
    expect(() => dynamic.update({ limit: -3 })).toThrow(ConfigError);
    expect(() => dynamic.update({ rate: "5/s" })).toThrow(ConfigError);
    expect(seen).toEqual([]);
    expect((await acme.tryAcquire()).allowed).toBe(false);

    dynamic.update({ limit: 2 });
    expect(seen).toHaveLength(1);
    expect((await acme.tryAcquire()).allowed).toBe(true);
    expect((await acme.tryAcquire()).allowed).toBe(false);
  });

  it("a provider-backed limiter survives file reloads and keeps following its provider", async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const file = new ConfigFile(dir, "in-place", two(1));
    const rs = await RateSync.fromFile(file.path);
    cleanups.push(() => rs.close());

    let current: LimiterDefinition = { algorithm: "fixed_window", limit: 1, window: "1h" };
    const listeners = new Set<(definition: LimiterDefinition) => void>();
    const flags: ConfigProvider = {
      get: () => current,
      subscribe(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    rs.configure("flagged", undefined, { provider: flags });
    expect((await rs.tryAcquire("flagged")).allowed).toBe(true);

    file.save(two(3));
    expect(await rs.reload()).toEqual({ added: [], removed: [], changed: ["a", "b"] });
    expect(rs.limiterIds()).toEqual(["a", "b", "flagged"]);
    expect((await rs.tryAcquire("flagged")).allowed).toBe(false);

    current = { algorithm: "fixed_window", limit: 2, window: "1h" };
    for (const listener of listeners) listener(current);
    expect((await rs.tryAcquire("flagged")).allowed).toBe(true);
    expect((await rs.tryAcquire("flagged")).allowed).toBe(false);
  });

  it("a limiter in code inherits changed file defaults on reload", async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const file = new ConfigFile(dir, "in-place", `[defaults]\ntimeout = "1s"\n${two(1)}`);
    const rs = await RateSync.fromFile(file.path);
    cleanups.push(() => rs.close());
    rs.configure("coded", { rate: "1/s" });
    expect(rs.explain("coded")?.timeoutMs).toBe(1000);
    file.save(`[defaults]\ntimeout = "3s"\n${two(1)}`);
    expect(await rs.reload()).toEqual({ added: [], removed: [], changed: ["a", "b", "coded"] });
    expect(rs.explain("coded")?.timeoutMs).toBe(3000);
  });
});
