/**
 * Koa with rate-sync: a per-IP API limit whose decision the route reads from `ctx.state.rateLimit`. Starts on a
 * free port, sends a few requests to itself to show the headers and the 429, exits.
 * Run: `npx tsx --tsconfig tsconfig.test.json examples/koa-server.ts`
 */
import type { AddressInfo } from "node:net";
import Koa from "koa";
import { RateSync } from "rate-sync";
import { type RateLimitState, rateLimit } from "rate-sync/koa";

// Usually `await RateSync.fromFile("rate-sync.toml")`, or nothing at all: the default instance is used.
const rs = RateSync.fromConfig({ limiters: { "api:<ip>": { rate: "2/min", burst: 2 } } });

const app = new Koa<RateLimitState>();
app.use(rateLimit({ rs, key: "api:<ip>" }));
app.use((ctx) => {
  ctx.body = { items: [], remaining: ctx.state.rateLimit?.remaining };
});

const server = app.listen(0, "127.0.0.1");
await new Promise<void>((resolve) => server.once("listening", resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
for (let i = 1; i <= 3; i++) {
  const response = await fetch(`${base}/api/items`);
  console.log(`GET /api/items #${i}: ${response.status}  RateLimit: ${response.headers.get("ratelimit")}`);
  console.log(" ", await response.json());
}
server.close();
await rs.close();
