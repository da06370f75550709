/**
 * @module
 * The targets of the performance work (the batching issue's table): ratios of medians of one interleaved run,
 * rate-sync ÷ rate-limiter-flexible unless a row says otherwise, and the heap bound. `run.ts` checks them after
 * every run and prints which are met; bench/README.md keeps, for each one missed, the measurement that explains
 * it.
 */

import { SPREAD_KEYS } from "../scenarios/memory.ts";
import { IN_FLIGHT } from "../scenarios/physical.ts";
import { REMOTE_KEYS } from "../scenarios/redis.ts";
import type { Target } from "./report.ts";

/** Every target, in the order of the table. */
export function targets(): Target[] {
  const rlf = "rate-limiter-flexible";
  const hot = `tryAcquire, hot key, ${IN_FLIGHT} in flight`;
  const spread = `tryAcquire, ${REMOTE_KEYS / 1000}k keys, ${IN_FLIGHT} in flight`;
  const sequential = "tryAcquire, hot key, sequential";
  const at = (bound: number) => ({ bound, op: ">=" as const });
  const atMost = (bound: number) => ({ bound, op: "<=" as const });
  /** A ratio to rate-limiter-flexible's figure in the same scenario. */
  const vsRlf = (
    name: string,
    section: string,
    scenario: string,
    metric: Target["metric"],
    bound: Pick<Target, "bound" | "op">,
  ): Target => ({ name, section, scenario, metric, reference: rlf, ...bound });
  return [
    vsRlf("memory, tryAcquire, hot key ≥ 1.2×", "memory", "tryAcquire, hot key", "ops/s", at(1.2)),
    vsRlf(
      "memory, tryAcquire, 100k keys ≥ 1.2×",
      "memory",
      `tryAcquire, ${SPREAD_KEYS / 1000}k keys`,
      "ops/s",
      at(1.2),
    ),
    vsRlf(
      "memory, tryAcquireSync, hot key ≥ 3× (async consume)",
      "memory",
      "tryAcquireSync, hot key",
      "ops/s",
      at(3),
    ),
    vsRlf(
      "memory, tryAcquireSync, 100k keys ≥ 2× (async consume)",
      "memory",
      `tryAcquireSync, ${SPREAD_KEYS / 1000}k keys`,
      "ops/s",
      at(2),
    ),
    {
      name: "memory, denied ÷ allowed ≥ 1 (no slower)",
      section: "memory",
      scenario: "tryAcquire, denied",
      metric: "ops/s",
      reference: "rate-sync, allowed",
      ...at(1),
    },
    vsRlf("redis, hot key, 64 in flight ≥ 2×", "redis", hot, "ops/s", at(2)),
    vsRlf("redis, 10k keys, 64 in flight ≥ 2×", "redis", spread, "ops/s", at(2)),
    vsRlf("redis, sequential p50 ≤ 1.05×", "redis", sequential, "p50 ms", atMost(1.05)),
    vsRlf("postgres, 10k keys, 64 in flight ≥ 2×", "postgres", spread, "ops/s", at(2)),
    vsRlf("postgres, hot key, 64 in flight ≥ 3×", "postgres", hot, "ops/s", at(3)),
    vsRlf("postgres, sequential p50 ≤ 1.05×", "postgres", sequential, "p50 ms", atMost(1.05)),
    {
      name: "memory, heap per key at 1M keys ≤ 200 bytes",
      section: "memory",
      scenario: "heap per key at 1M keys",
      metric: "bytes/key",
      ...atMost(200),
    },
    {
      name: "redis, denied flood with the cache ≥ 20× store-bound",
      section: "redis",
      scenario: `denied flood, ${IN_FLIGHT} in flight`,
      metric: "ops/s",
      reference: "rate-sync, cache off (store-bound)",
      ...at(20),
    },
    ...(["redis", "postgres"] as const).map((engine) => ({
      name: `overrides, set → first decision in another process, p99 ≤ 1000 ms (${engine})`,
      section: "overrides",
      scenario: `override set → first decision under it in another process (${engine})`,
      metric: "p99 ms" as const,
      ...atMost(1000),
    })),
  ];
}
