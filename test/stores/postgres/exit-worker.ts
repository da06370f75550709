/**
 * @module
 * Makes a few decisions with a fast background sweep, closes the store and returns: the process must then exit
 * on its own (no timer or socket left behind). argv[2] is the JSON store config.
 */

import type { PostgresStoreConfig } from "../../../src/config/types.ts";
import { PostgresStore } from "../../../src/stores/postgres/postgres-store.ts";

const config = JSON.parse(process.argv[2] ?? "{}") as PostgresStoreConfig;
const store = new PostgresStore(config, { cleanupIntervalMs: 20 });
const params = { kind: "fixed_window", limit: 5, windowMs: 50 } as const;
for (let i = 0; i < 5; i++) await store.decide([{ limiterId: "exit", key: `k${i}`, params, cost: 1 }], 0);
// Let a few sweeps run, then close.
await new Promise((resolve) => setTimeout(resolve, 200));
await store.close();
