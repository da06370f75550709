/**
 * @module
 * The deciding process of the overrides benchmark: decides one key in a loop and, each time a decision runs
 * under a limit it has not seen yet, tells the parent which limit and when (epoch ms, sub-millisecond).
 */

import { RateSync } from "../../src/index.ts";

const [toml, key] = [process.argv[2] ?? "", process.argv[3] ?? "bench:acme"];
const rs = RateSync.fromToml(toml, { quiet: true });
rs.on("storeError", () => {});
let running = true;
process.on("message", (message) => {
  if (message === "stop") running = false;
});
await rs.overrides.ready();
process.send?.({ ready: true });
let last = Number.NaN;
while (running) {
  const decision = await rs.tryAcquire(key);
  const quota = decision.policy.quota;
  if (quota !== last) {
    last = quota;
    process.send?.({ quota, at: performance.timeOrigin + performance.now() });
  }
  // One decision per turn at most: the loop must not starve the subscription it waits on.
  await new Promise((resolve) => setImmediate(resolve));
}
await rs.close();
process.exit(0);
