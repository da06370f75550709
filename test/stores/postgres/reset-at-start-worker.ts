/**
 * @module
 * A child process of `postgres-connection-reset.test.ts`: puts a proxy between a PostgreSQL store (and an
 * overrides source) and the server that resets each connection at the first message the client sends once the
 * server said it is ready (its first `ReadyForQuery`): the moment a driver runs its own start-up queries. Every
 * call must fail as a store error and the process must live on; it prints `done <failures> of <calls> failed` and exits 0.
 * argv[2] is the JSON store config (its url is replaced by the proxy's).
 */

import { connect, createServer, type Socket } from "node:net";
import type { PostgresStoreConfig } from "../../../src/config/types.ts";
import { PostgresSource } from "../../../src/overrides/postgres-source.ts";
import { PostgresStore } from "../../../src/stores/postgres/postgres-store.ts";

const config = JSON.parse(process.argv[2] ?? "{}") as PostgresStoreConfig;
const target = new URL(config.url ?? "");

/** `ReadyForQuery`: type `Z`, length 5. */
const READY = Buffer.from([0x5a, 0, 0, 0, 5]);

const proxy = createServer((client: Socket) => {
  const server = connect(Number(target.port || 5432), target.hostname);
  let ready = false;
  const cut = () => {
    client.resetAndDestroy();
    server.resetAndDestroy();
  };
  client.on("error", () => {});
  server.on("error", () => {});
  client.on("data", (chunk) => (ready ? cut() : server.write(chunk)));
  server.on("data", (chunk) => {
    client.write(chunk);
    if (chunk.includes(READY)) ready = true;
  });
  client.on("close", () => server.destroy());
  server.on("close", () => client.destroy());
});
await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
const url = new URL(target);
url.host = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
const proxied = { ...config, url: url.toString(), timeoutMs: 2_000 };

const store = new PostgresStore(proxied, { cleanupIntervalMs: 0 });
const source = new PostgresSource({ ...proxied, autoCreate: false }, 100, 0);
const params = { kind: "fixed_window", limit: 5, windowMs: 60_000 } as const;
let calls = 0;
let failures = 0;
for (let i = 0; i < 3; i++) {
  // Once alone, once as a batch of two (arrays), once as a composite.
  const round =
    i === 0
      ? [store.decide([{ limiterId: "reset", key: "a", params, cost: 1 }], 0)]
      : i === 1
        ? ["a", "b"].map((key) => store.decide([{ limiterId: "reset", key, params, cost: 1 }], 0))
        : [
            store.decide(
              [
                { limiterId: "reset", key: "a", params, cost: 1 },
                { limiterId: "reset", key: "b", params, cost: 1 },
              ],
              0,
            ),
          ];
  for (const outcome of await Promise.allSettled([...round, source.read()])) {
    calls++;
    if (outcome.status === "rejected") failures++;
  }
}
// Whatever the driver left running settles now: an unhandled rejection would end the process here.
await new Promise((resolve) => setTimeout(resolve, 500));
await store.close();
await source.close();
proxy.close();
console.log(`done ${failures} of ${calls} failed`);
process.exit(0);
