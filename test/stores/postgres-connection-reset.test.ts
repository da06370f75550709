/**
 * A PostgreSQL connection reset while it starts (the moment the driver would run start-up queries of its own)
 * fails the calls on it as store errors and never ends the process. postgres.js fetches array types on every new
 * connection from a socket callback and leaves that query's failure unhandled: with it on, a reset there was an
 * unhandled rejection that killed the process (seen in a fleet test whose proxy cut a worker's connections).
 * The store's pool and the overrides source run without it. In a child process, against a real PostgreSQL.
 */

import { afterAll, describe, expect, it } from "vitest";
import { runChild } from "../core/lifecycle/spawn.ts";
import { requirePostgres } from "../helpers/stores.ts";
import { dropStoreObjects, testConfig } from "./postgres/setup.ts";

const postgres = await requirePostgres();

describe.skipIf(!postgres.available)("a connection reset while it starts", () => {
  const config = testConfig("conn_reset", { url: postgres.url });
  afterAll(() => dropStoreObjects(config, postgres.url));

  it("fails each call as a store error and the process lives on", { timeout: 60_000 }, async () => {
    const result = await runChild(
      "../../stores/postgres/reset-at-start-worker.ts",
      [JSON.stringify(config)],
      {},
      45_000,
    );
    expect(result.stderr).not.toContain("ECONNRESET");
    expect(result.code, result.stderr).toBe(0);
    // A lone decision, two in one batch and a composite, each with a read of the source: every one refused.
    expect(result.stdout).toContain("done 7 of 7 failed");
  });
});
