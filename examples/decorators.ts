/**
 * A service whose methods are rate limited by a decorator, and an admin action that clears a limiter: each user
 * may call the API twice an hour (denied at once past that), each tenant runs one report at a time (the next
 * waits its turn), and `rs.clear` gives every user their quota back.
 * Compiles as standard decorators (TypeScript 5) and under `experimentalDecorators: true` (NestJS, TypeORM).
 * Run: `npx tsx --tsconfig tsconfig.test.json examples/decorators.ts`
 */
import { RateLimitExceededError, RateSync, rateLimited } from "rate-sync";

const rs = RateSync.fromToml(`
[limiters."api:<userId>"]
algorithm = "fixed_window"
limit = 2
window = "1h"

[limiters."reports:<tenant>"]
max_concurrent = 1
lease = "5m"
`);

class UserService {
  constructor(readonly tenant: string) {}

  /** `<userId>` comes from the first argument; "try": a call past the limit rejects at once. */
  @rateLimited("api:<userId>", { mode: "try", rateSync: rs })
  async profile({ userId }: { userId: string }): Promise<string> {
    return `profile of ${userId}`;
  }

  /** A key function reads `this`: one report at a time per tenant; "wait" (the default) queues the next. */
  @rateLimited(
    function (this: UserService) {
      return `reports:${this.tenant}`;
    },
    { rateSync: rs },
  )
  async report(name: string): Promise<string> {
    console.log(`  ${this.tenant}: ${name} starts`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    console.log(`  ${this.tenant}: ${name} ends`);
    return name;
  }
}

const users = new UserService("acme");
for (let call = 1; call <= 3; call++) {
  try {
    console.log(`call ${call}:`, await users.profile({ userId: "42" }));
  } catch (error) {
    if (!(error instanceof RateLimitExceededError)) throw error;
    console.log(`call ${call}: denied, retry in ${Math.ceil(error.retryAfterMs / 60_000)} min`);
  }
}

console.log("reports, one at a time per tenant:");
await Promise.all([users.report("daily"), users.report("weekly")]);

// An admin resets every user's API quota (what `rate-sync clear "api:<userId>" --yes` does from a shell).
console.log("keys of api:<userId>:", await rs.keyCount("api:<userId>"));
console.log("cleared:", await rs.clear("api:<userId>"), "key(s)");
console.log("after clear:", await users.profile({ userId: "42" }));
await rs.close();
