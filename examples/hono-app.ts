/**
 * Hono with rate-sync: the middleware reads only web-standard Request values, so the same app runs on Node
 * (here through `@hono/node-server`), Bun or Deno. Sends a few requests to itself, prints them, exits.
 * Run: `npx tsx --tsconfig tsconfig.test.json examples/hono-app.ts`
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { RateSync } from "rate-sync";
import { rateLimit } from "rate-sync/hono";

const rs = RateSync.fromConfig({
  limiters: { "tenant:<header:x-tenant>": { rate: "2/min", burst: 2 } },
});

const app = new Hono();
// Requests without an X-Tenant header fall back to the client IP in place of the tenant.
app.use("/api/*", rateLimit({ rs, key: "tenant:<header:x-tenant>", wait: false }));
app.get("/api/report", (c) => c.json({ report: "…" }));

const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
await new Promise<void>((resolve) => server.once("listening", resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
for (let i = 1; i <= 3; i++) {
  const response = await fetch(`${base}/api/report`, { headers: { "x-tenant": "acme" } });
  console.log(`acme #${i}: ${response.status}  RateLimit: ${response.headers.get("ratelimit")}`);
  if (!response.ok) console.log(await response.json());
}
server.close();
await rs.close();
