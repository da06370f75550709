/**
 * Webhook delivery that never floods a customer: per endpoint, at most 5 deliveries a second and 2 in
 * flight at once; deliveries wait their turn (up to 30 s) instead of failing.
 * Run: `npx tsx --tsconfig tsconfig.test.json examples/webhook.ts`
 */
import { RateSync } from "rate-sync";

const rs = RateSync.fromToml(`
[limiters."webhook:<endpoint>"]
rate = "5/s"
burst = 1               # smooth: one delivery every 200 ms
max_concurrent = 2      # and never more than 2 in flight per endpoint
lease = "1m"
timeout = "30s"
`);

const started = performance.now();
const at = () => `${String(Math.round(performance.now() - started)).padStart(5)} ms`;

/** Pretends to POST an event to a customer endpoint (takes 300 ms). */
async function post(endpoint: string, event: number): Promise<void> {
  console.log(`${at()}  → ${endpoint} event ${event}`);
  await new Promise((resolve) => setTimeout(resolve, 300));
}

// A bulk import fires 8 events for one endpoint and 2 for another, all at once.
const deliveries = [
  ...Array.from({ length: 8 }, (_, i) => ["https://a.example/hook", i] as const),
  ...Array.from({ length: 2 }, (_, i) => ["https://b.example/hook", i] as const),
].map(([endpoint, event]) => rs.run(`webhook:${endpoint}`, () => post(endpoint, event)));

await Promise.all(deliveries);
console.log(`${at()}  all delivered; metrics:`, rs.metrics().limiters["webhook:<endpoint>"]);
await rs.close();
