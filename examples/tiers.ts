/**
 * Per-tenant API quotas by plan: free, pro and enterprise tiers as templates, each tenant with its own
 * bucket. Run: `npx tsx --tsconfig tsconfig.test.json examples/tiers.ts`
 */
import { RateSync } from "rate-sync";

const rs = RateSync.fromToml(`
[limiters."free:<tenant>"]
rate = "5/s"            # 5 requests a second, bursts up to 10
burst = 10

[limiters."pro:<tenant>"]
rate = "50/s"
burst = 100

[limiters."enterprise:<tenant>"]
rate = "500/s"
burst = 1000
`);

const plans: Record<string, "free" | "pro" | "enterprise"> = {
  acme: "enterprise",
  globex: "pro",
  initech: "free",
};

/** What an API handler would do: one decision per request, keyed by the tenant's plan and id. */
async function handleRequest(tenant: string): Promise<string> {
  const decision = await rs.tryAcquire(`${plans[tenant]}:${tenant}`);
  return decision.allowed ? "200" : `429 (retry in ${Math.ceil(decision.retryAfterMs)} ms)`;
}

for (const tenant of Object.keys(plans)) {
  const answers: Record<string, number> = {};
  // A burst of 120 requests at once from each tenant.
  for (let i = 0; i < 120; i++) {
    const answer = (await handleRequest(tenant)).split(" ")[0]!;
    answers[answer] = (answers[answer] ?? 0) + 1;
  }
  const state = await rs.peek(`${plans[tenant]}:${tenant}`);
  console.log(
    `${tenant.padEnd(8)} plan=${plans[tenant]!.padEnd(10)} answers=${JSON.stringify(answers)} remaining=${state.remaining}`,
  );
}

await rs.close();
