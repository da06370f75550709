/**
 * @module
 * The concurrency limit: at most `maxConcurrent` leases held at once per key. A `LimitParams` kind but not a
 * rate `Algorithm` (it takes and releases leases rather than spending units), so it has its own entry beside
 * the registry's rate algorithms.
 */

import { CONCURRENCY_LUA } from "./lua.ts";
import { concurrencyStepSql } from "./sql.ts";

export { acquireLease, peekConcurrency, type RenewOutcome, releaseLease, renewLease } from "./leases.ts";

/** The concurrency limit's entry: its kind, Redis kind code and state tag (`cc`), Lua and SQL. */
export const concurrency = {
  name: "concurrency",
  code: "cc",
  lua: CONCURRENCY_LUA,
  sql: { step: concurrencyStepSql },
} as const;
