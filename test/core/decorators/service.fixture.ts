/**
 * Decorated methods, run in a child process by `test/core/decorators.test.ts`: once compiled as standard
 * (TC39) decorators, once with `experimentalDecorators: true` (tsconfig.legacy.json). The same source; it prints
 * what each call did, as JSON, and which flavour of decorator the compiler applied.
 */

import { RateLimitExceededError, RateSync, rateLimited } from "../../../src/index.ts";

const rs = RateSync.fromConfig(
  {
    stores: { main: { engine: "memory" } },
    limiters: {
      "api:<userId>": { algorithm: "fixed_window", limit: 1, window: "1h" },
      "tenant:<id>": { algorithm: "fixed_window", limit: 2, window: "1h" },
      jobs: { max_concurrent: 1, lease: "1h" },
    },
  },
  { quiet: true },
);

/** What the compiler passes a decorator: `(method, context)` (standard) or `(prototype, name, descriptor)`. */
let flavour = "none";
function probe(...args: unknown[]): void {
  flavour = args.length === 2 ? "standard" : "legacy";
}

const events: string[] = [];

class Users {
  readonly rs = rs;
  constructor(readonly tenant: string) {}

  @probe
  async probed(): Promise<void> {}

  @rateLimited("api:<userId>", { mode: "try", rateSync: rs })
  async fetch({ userId }: { userId: string }): Promise<string> {
    return `user ${userId} of ${this.tenant}`;
  }

  @rateLimited(
    function (this: Users, _n: number) {
      return `tenant:${this.tenant}`;
    },
    { mode: "try", rateSync: (self: Users) => self.rs },
  )
  async double(n: number): Promise<number> {
    return n * 2;
  }

  @rateLimited("jobs", { rateSync: rs })
  async job(name: string): Promise<string> {
    events.push(`start ${name}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
    events.push(`end ${name}`);
    return name;
  }

  @rateLimited("api:<userId>", { mode: "try", rateSync: rs })
  static async lookup({ userId }: { userId: string }): Promise<string> {
    return `static ${userId}`;
  }
}

/** A call's outcome: its value, or the name and fields of what it threw. */
async function outcome(call: () => Promise<unknown>): Promise<unknown> {
  try {
    return { value: await call() };
  } catch (error) {
    if (error instanceof RateLimitExceededError) return { denied: error.key, limiter: error.limiter };
    return { error: (error as Error).message };
  }
}

const acme = new Users("acme");
const other = new Users("other");
const results = {
  flavour,
  fetch: [
    await outcome(() => acme.fetch({ userId: "42" })),
    await outcome(() => acme.fetch({ userId: "42" })),
    await outcome(() => acme.fetch({ userId: "7" })),
    await outcome(() => acme.fetch({} as { userId: string })),
  ],
  double: [
    await outcome(() => acme.double(1)),
    await outcome(() => acme.double(2)),
    await outcome(() => acme.double(3)),
    await outcome(() => other.double(4)),
  ],
  jobs: await Promise.all([acme.job("a"), acme.job("b")]),
  events,
  static: [
    await outcome(() => Users.lookup({ userId: "s" })),
    await outcome(() => Users.lookup({ userId: "s" })),
  ],
};
await rs.close();
process.stdout.write(JSON.stringify(results));
