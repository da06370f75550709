/**
 * @module
 * The source of an instance's overrides, from `[overrides]`: the named store's engine decides where they live.
 */

import { DEFAULT_MAX_OVERRIDES, DEFAULT_OVERRIDE_HISTORY } from "../config/normalize.ts";
import type { ConfigSnapshot } from "../config/types.ts";
import { MemorySource } from "./memory-source.ts";
import { PostgresSource } from "./postgres-source.ts";
import { RedisSource } from "./redis-source.ts";
import type { OverrideSource } from "./source.ts";

/** The source `snapshot` asks for; in process when it has no `[overrides]` or names a memory store. */
export function createOverrideSource(snapshot: ConfigSnapshot): OverrideSource {
  const config = snapshot.overrides;
  const max = config?.maxOverrides ?? DEFAULT_MAX_OVERRIDES;
  const history = config?.history ?? DEFAULT_OVERRIDE_HISTORY;
  const store = config === undefined ? undefined : snapshot.stores.get(config.store);
  if (store?.engine === "redis") return new RedisSource(store, max, history);
  if (store?.engine === "postgres") return new PostgresSource(store, max, history);
  return new MemorySource(max, history);
}
