/**
 * The shared store conformance suite, run on the SQLite store twice: with an injected clock (times checked to
 * the microsecond, as on the memory store) and on its real clock (`Date.now`, times within slack, as on the
 * remote stores). Real database files in a temp directory.
 */

import { afterAll, describe } from "vitest";
import { SqliteStore } from "../../src/stores/sqlite/sqlite-store.ts";
import type { Store } from "../../src/stores/store.ts";
import { describeStoreConformance } from "../conformance/store-conformance.ts";
import { FakeClock } from "../helpers/clock.ts";
import { tempDatabases } from "./sqlite/setup.ts";

const databases = tempDatabases("conformance");
let file = 0;

describe("SQLite store conformance", () => {
  // One file for the real-clock scenarios, as the remote stores share one table: ids never repeat.
  const real = new SqliteStore(databases.config("real"), { sweepIntervalMs: 0 });
  afterAll(async () => {
    await real.close();
    databases.remove();
  });

  describeStoreConformance("sqlite (injected clock)", () => {
    const clock = new FakeClock();
    file += 1;
    const store = new SqliteStore(databases.config(`fake-${file}`), { now: clock.now, sweepIntervalMs: 0 });
    return { store, clock, cleanup: () => store.close() };
  });

  const shared: Store = {
    id: real.id,
    engine: real.engine,
    decide: (ops, maxWaitMs) => real.decide(ops, maxWaitMs),
    peek: (op) => real.peek(op),
    refund: (ops) => real.refund(ops),
    charge: (ops) => real.charge(ops),
    reset: (limiterId, key) => real.reset(limiterId, key),
    release: (limiterId, key, leaseId) => real.release(limiterId, key, leaseId),
    renew: (limiterId, key, leaseId, leaseMs) => real.renew(limiterId, key, leaseId, leaseMs),
    clear: (limiterId) => real.clear(limiterId),
    keyCount: (limiterId) => real.keyCount(limiterId),
    close: async () => {},
  };
  describeStoreConformance("sqlite (real clock)", () => ({ store: shared, cleanup: async () => {} }));
});
