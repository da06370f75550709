import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  acquireLease,
  peekConcurrency,
  releaseLease,
  renewLease,
} from "../../src/algorithms/concurrency/index.ts";
import type { ConcurrencyParams, ConcurrencyState } from "../../src/algorithms/types.ts";

const params: ConcurrencyParams = { kind: "concurrency", maxConcurrent: 2, leaseMs: 1000 };

describe("concurrency leases", () => {
  it("grants up to N, then denies with the earliest expiry as a hint", () => {
    const a = acquireLease(params, undefined, 0, "a");
    expect(a).toMatchObject({ allowed: true, remaining: 1, resetAfterMs: 1000, ttlMs: 1000 });
    const b = acquireLease(params, a.state, 300, "b");
    expect(b).toMatchObject({ allowed: true, remaining: 0, resetAfterMs: 1000 });
    const c = acquireLease(params, b.state, 500, "c");
    expect(c).toMatchObject({
      allowed: false,
      remaining: 0,
      retryAfterMs: 500,
      resetAfterMs: 800,
      state: b.state,
    });
    // At 1000 `a` has expired.
    expect(acquireLease(params, b.state, 1000, "c")).toMatchObject({ allowed: true, remaining: 0 });
  });

  it("release is idempotent; renew only extends live leases", () => {
    const s = acquireLease(params, undefined, 0, "a").state;
    const released = releaseLease(s, 10, "a");
    expect(released).toEqual({ state: undefined, ttlMs: 0 });
    expect(releaseLease(released.state, 10, "a")).toEqual({ state: undefined, ttlMs: 0 });
    expect(releaseLease(s, 10, "other").state?.leases.size).toBe(1);
    const renewed = renewLease(s, 900, "a", 1000);
    expect(renewed.renewed).toBe(true);
    expect(renewed.ttlMs).toBe(1000);
    expect(renewLease(s, 1000, "a", 1000).renewed).toBe(false);
    expect(renewLease(s, 10, "b", 1000).renewed).toBe(false);
  });

  it("never mutates the state it is given", () => {
    const s = acquireLease(params, undefined, 0, "a").state as ConcurrencyState;
    acquireLease(params, s, 10, "b");
    releaseLease(s, 10, "a");
    renewLease(s, 10, "a", 5000);
    expect([...s.leases]).toEqual([["a", 1000]]);
  });

  it("never holds more than N live leases", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.array(
          fc.record({
            dt: fc.integer({ min: 0, max: 600 }),
            action: fc.constantFrom("acquire", "release", "renew"),
            id: fc.integer({ min: 0, max: 7 }),
          }),
          { maxLength: 60 },
        ),
        (maxConcurrent, steps) => {
          const p: ConcurrencyParams = { kind: "concurrency", maxConcurrent, leaseMs: 1000 };
          let now = 0;
          let state: ConcurrencyState | undefined;
          for (const { dt, action, id } of steps) {
            now += dt;
            const leaseId = `l${id}`;
            if (action === "acquire") state = acquireLease(p, state, now, leaseId).state;
            else if (action === "release") state = releaseLease(state, now, leaseId).state;
            else state = renewLease(state, now, leaseId, 1000).state;
            const live = state === undefined ? 0 : [...state.leases.values()].filter((e) => e > now).length;
            expect(live).toBeLessThanOrEqual(maxConcurrent);
            expect(peekConcurrency(p, state, now).remaining).toBe(maxConcurrent - live);
          }
        },
      ),
    );
  });
});
