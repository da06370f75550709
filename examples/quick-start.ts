/**
 * Quick start: the limits of `rate-sync.toml.example`, decided by name on the in-process memory store.
 * Run: `npm start`
 */
import { fileURLToPath } from "node:url";
import { isRateLimitExceededError, RateSync } from "rate-sync";

const file = fileURLToPath(new URL("../rate-sync.toml.example", import.meta.url));
const rs = await RateSync.fromFile(file);
console.log(`Loaded ${file}\nLimiters: ${rs.limiterIds().join(", ")}\n`);

// 1. A per-tenant template: "api:acme" and "api:globex" each get their own 1000/min bucket.
const acme = await rs.tryAcquire("api:acme");
console.log(
  `api:acme      allowed=${acme.allowed} remaining=${acme.remaining}/${acme.limit} (limiter "${acme.limiter}")`,
);

// 2. Brute-force protection: 5 login attempts per 5 minutes per IP (sliding window), the 6th is denied.
for (let attempt = 1; attempt <= 6; attempt++) {
  const d = await rs.tryAcquire("login:203.0.113.7");
  const detail = d.allowed ? `remaining=${d.remaining}` : `retry in ${Math.ceil(d.retryAfterMs / 1000)} s`;
  console.log(`login attempt ${attempt}: ${d.allowed ? "allowed" : "DENIED "} ${detail}`);
}

// 3. Shaping with waiting: the leaky bucket lets 5 emails a second through, queueing the rest.
const started = performance.now();
await Promise.all(
  Array.from({ length: 6 }, (_, i) =>
    rs.run("outbound_email", () => {
      console.log(`email ${i + 1} sent at ${Math.round(performance.now() - started)} ms`);
    }),
  ),
);

// 4. Concurrency: at most 10 uploads at once; `await using` gives the slot back at the end of the scope.
{
  await using slot = await rs.acquire("upload");
  const state = await rs.peek("upload");
  console.log(
    `\nupload slots in use: ${state.concurrency?.held}/${state.concurrency?.max} (waited ${Math.round(slot.waitedMs)} ms)`,
  );
}

// 5. A wait that cannot fit in its timeout is refused at once, not after sleeping.
for (let i = 0; i < 1000; i++) await rs.tryAcquire("api:tiny-tenant");
try {
  await rs.acquire("api:tiny-tenant", { timeout: "10ms" });
} catch (error) {
  if (!isRateLimitExceededError(error)) throw error;
  console.log(`api:tiny-tenant: ${error.message}`);
}

console.log("\nmetrics:", JSON.stringify(rs.metrics().limiters["login:<ip>"]));
await rs.close();
