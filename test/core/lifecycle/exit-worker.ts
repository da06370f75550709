/**
 * @module
 * A script as a user writes it: the module-level API on the default instance (loaded from `RATE_SYNC_CONFIG`),
 * a few calls on keys named after argv[3], then `await close()` when argv[2] is "close", or nothing at all when
 * it is "idle". It prints
 * "done" once its work is finished; the test measures how long the process then takes to exit by itself.
 */

import { close, tryAcquire } from "../../../src/index.ts";

const [, , mode, run = "run"] = process.argv;
let allowed = 0;
for (let i = 0; i < 5; i++) if ((await tryAcquire(`api:${run}-${i % 2}`)).allowed) allowed++;
if (mode === "close") await close();
process.stdout.write(`done ${allowed}\n`);
