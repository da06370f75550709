/**
 * The shared store conformance suite, run on the PostgreSQL store (real server, server clock).
 */

import { afterAll, describe } from "vitest";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.ts";
import type { Store } from "../../src/stores/store.ts";
import { describeStoreConformance } from "../conformance/store-conformance.ts";
import { requirePostgres } from "../helpers/stores.ts";
import { dropStoreObjects, testConfig } from "./postgres/setup.ts";

const postgres = await requirePostgres();
const config = testConfig("pg_conformance", { url: postgres.url });

describe.skipIf(!postgres.available)("PostgreSQL store conformance", () => {
  // One store (one pool, one table) for the whole file: every scenario uses limiter ids of its own.
  const store = new PostgresStore(config, { cleanupIntervalMs: 0 });

  afterAll(async () => {
    await store.close();
    await dropStoreObjects(config);
  });

  // The store outlives the scenarios (closing it is the file's job), so it is shared behind a wrapper whose
  // close() does nothing.
  const shared: Store = {
    id: store.id,
    engine: store.engine,
    decide: (ops, maxWaitMs) => store.decide(ops, maxWaitMs),
    peek: (op) => store.peek(op),
    refund: (ops) => store.refund(ops),
    charge: (ops) => store.charge(ops),
    reset: (limiterId, key) => store.reset(limiterId, key),
    release: (limiterId, key, leaseId) => store.release(limiterId, key, leaseId),
    renew: (limiterId, key, leaseId, leaseMs) => store.renew(limiterId, key, leaseId, leaseMs),
    clear: (limiterId) => store.clear(limiterId),
    keyCount: (limiterId) => store.keyCount(limiterId),
    close: async () => {},
  };
  describeStoreConformance("postgres", () => ({ store: shared, cleanup: async () => {} }));
});
