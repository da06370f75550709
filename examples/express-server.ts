/**
 * Express with rate-sync: a per-IP API limit, a login limit by IP and by user at once, and a health check
 * left alone. Starts on a free port, sends a few requests to itself to show the headers and the 429, exits.
 * Run: `npx tsx --tsconfig tsconfig.test.json examples/express-server.ts`
 */
import type { AddressInfo } from "node:net";
import express from "express";
import { RateSync } from "rate-sync";
import { rateLimit } from "rate-sync/express";

// Usually `await RateSync.fromFile("rate-sync.toml")`, or nothing at all: the default instance is used.
const rs = RateSync.fromConfig({
  limiters: {
    "api:<ip>": { rate: "3/min", burst: 3 },
    "login:ip:<ip>": { algorithm: "sliding_window", limit: 10, window: "5m" },
    "login:user:<user>": { algorithm: "sliding_window", limit: 2, window: "5m" },
  },
});

const app = express();
app.use(express.json());
app.get("/health", (_req, res) => {
  res.send("up");
});
app.use("/api", rateLimit({ rs, key: "api:<ip>", headers: "both" }));
app.get("/api/items", (_req, res) => {
  res.json({ items: [1, 2, 3], decision: res.locals.rateLimit?.remaining });
});
app.post(
  "/login",
  // Anonymous attempts (no user in the body) are limited by IP only.
  rateLimit({ rs, key: ["login:ip:<ip>", "login:user:<user>"], user: (req) => req.body?.user }),
  (_req, res) => {
    res.json({ ok: true });
  },
);

const server = app.listen(0, "127.0.0.1");
await new Promise<void>((resolve) => server.once("listening", resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

for (let i = 1; i <= 4; i++) {
  const response = await fetch(`${base}/api/items`);
  console.log(`GET /api/items #${i}: ${response.status}  RateLimit: ${response.headers.get("ratelimit")}`);
  if (response.status === 429)
    console.log(`  Retry-After: ${response.headers.get("retry-after")}`, await response.json());
}
for (let i = 1; i <= 3; i++) {
  const response = await fetch(`${base}/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user: "bob" }),
  });
  console.log(
    `POST /login as bob #${i}: ${response.status}  RateLimit: ${response.headers.get("ratelimit")}`,
  );
}

server.close();
await rs.close();
