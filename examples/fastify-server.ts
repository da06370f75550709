/**
 * Fastify with rate-sync: one plugin registration limits every route by IP; a route brings its own limit in
 * `config.rateLimit`, another opts out. Sends a few requests to itself, prints what came back, exits.
 * Run: `npx tsx --tsconfig tsconfig.test.json examples/fastify-server.ts`
 */
import Fastify from "fastify";
import { RateSync } from "rate-sync";
import { rateLimit } from "rate-sync/fastify";

const rs = RateSync.fromConfig({
  limiters: {
    "api:<ip>": { rate: "100/min" },
    "search:<ip>": { algorithm: "fixed_window", limit: 2, window: "1m" },
    "export:<user>": { max_concurrent: 1, lease: "2m" },
  },
});

const app = Fastify();
await app.register(rateLimit, { rs, key: "api:<ip>" });
app.get("/items", async () => ({ items: [1, 2, 3] }));
app.get("/search", { config: { rateLimit: { key: "search:<ip>" } } }, async (request) => ({
  hits: [],
  remaining: request.rateLimit?.remaining,
}));
app.get(
  "/export",
  // One export at a time per user: the slot is released when the response is done.
  {
    config: {
      rateLimit: { key: "export:<user>", user: (req) => req.headers["x-user"] as string | undefined },
    },
  },
  async () => ({ started: true }),
);
app.get("/health", { config: { rateLimit: false } }, async () => "up");

const base = await app.listen({ port: 0, host: "127.0.0.1" });
for (const path of ["/items", "/search", "/search", "/search", "/health"]) {
  const response = await fetch(`${base}${path}`);
  console.log(`GET ${path}: ${response.status}  RateLimit: ${response.headers.get("ratelimit")}`);
}
await app.close();
await rs.close();
