/**
 * @module
 * Loads prom-client (an optional peer dependency) for `rate-sync/prometheus`, turning a missing package into
 * the same {@link StoreUnavailableError} a store gives for a missing `ioredis` or `postgres`, instead of the
 * runtime's bare `ERR_MODULE_NOT_FOUND`.
 *
 * Why `require` and not `import`: a static `import … from "prom-client"` fails while the module graph is
 * linked, before any of our code runs, so nothing could word the error. The collectors extend prom-client's
 * classes when this entry is evaluated, so the load must also be synchronous; prom-client is a CommonJS
 * package, and `require` hands back the same module instance an `import` of it does (one global registry).
 */

import { createRequire } from "node:module";
import type * as PromClient from "prom-client";
import { StoreUnavailableError } from "../errors.ts";

/** The prom-client module, as `require("prom-client")` yields it. */
export type PromClientModule = typeof PromClient;

/** The entry point named in the error, so the user sees which import needs the package. */
const ENTRY_POINT = "rate-sync/prometheus";

/**
 * Requires prom-client, or throws {@link StoreUnavailableError} (`packageName: "prom-client"`) when it is not
 * installed.
 *
 * @param requirePackage How to load it (tests replace it to simulate a missing package).
 */
export function loadPromClient(
  requirePackage: () => PromClientModule = () => createRequire(import.meta.url)("prom-client"),
): PromClientModule {
  try {
    return requirePackage();
  } catch (error) {
    throw new StoreUnavailableError(ENTRY_POINT, "prom-client", { cause: error, entryPoint: true });
  }
}

/** prom-client, loaded once when `rate-sync/prometheus` is first imported. */
export const promClient: PromClientModule = loadPromClient();
