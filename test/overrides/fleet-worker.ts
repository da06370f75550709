/**
 * @module
 * One process of a fleet test: builds a RateSync from the TOML it is given and, on request, decides a key and
 * answers with the limit the decision ran under. Forwards its `override` and `reloadError` events.
 */

import { RateSync } from "../../src/index.ts";

/** A request from the test. */
export type FleetRequest =
  | { readonly id: number; readonly decide: string }
  | { readonly id: number; readonly close: true };

/** What a worker sends back. */
export type FleetMessage =
  | { readonly kind: "ready" }
  | { readonly kind: "answer"; readonly id: number; readonly quota: number; readonly degraded?: string }
  | { readonly kind: "override"; readonly action: string; readonly overrideId: string }
  | { readonly kind: "reloadError"; readonly message: string };

const send = (message: FleetMessage) => process.send?.(message);
const rs = RateSync.fromToml(process.argv[2] ?? "", { quiet: true });
rs.on("override", (event) => send({ kind: "override", action: event.action, overrideId: event.id }));
rs.on("reloadError", (error) => send({ kind: "reloadError", message: error.message }));
rs.on("storeError", () => {});

process.on("message", (request: FleetRequest) => {
  if ("close" in request) {
    void rs.close().then(() => process.exit(0));
    return;
  }
  rs.tryAcquire(request.decide).then(
    (decision) =>
      send({
        kind: "answer",
        id: request.id,
        quota: decision.policy.quota,
        ...(decision.degraded === undefined ? {} : { degraded: decision.degraded }),
      }),
    (error: unknown) => send({ kind: "reloadError", message: `decide failed: ${String(error)}` }),
  );
});

await rs.overrides.ready();
send({ kind: "ready" });
