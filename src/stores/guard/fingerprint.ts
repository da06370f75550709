/**
 * @module
 * What a cached denial is filed under besides its key: everything that changes what the denial means.
 */

import type { LimitParams } from "../../algorithms/types.ts";

/**
 * A fingerprint of the state tag plus the capacity and rate. A reload that raises a limit therefore never hits
 * a denial cached under the old limit.
 */
export function computeFingerprint(params: LimitParams): string {
  switch (params.kind) {
    case "token_bucket":
    case "leaky_bucket":
      return `${params.kind}/${params.intervalMs}/${params.burst}`;
    case "fixed_window":
    case "sliding_window":
    case "sliding_window_counter":
      return `${params.kind}/${params.windowMs}/${params.limit}`;
    case "concurrency":
      return `${params.kind}/${params.maxConcurrent}/${params.leaseMs}`;
  }
}
