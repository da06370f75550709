import { afterAll, describe, expect, it } from "vitest";
import { RateSync } from "../../src/index.ts";
import { requireRedis, uniqueName } from "../helpers/stores.ts";

const redis = await requireRedis();

describe.skipIf(!redis.available)("the core API on Redis", () => {
  const rs = RateSync.fromToml(`
[stores.shared]
engine = "redis"
url = "${redis.url}"
key_prefix = "${uniqueName("core-api")}"

[limiters.upload]
max_concurrent = 2
lease = "1m"

[limiters."ip:<ip>"]
algorithm = "fixed_window"
limit = 3
window = "1h"

[limiters."user:<user>"]
algorithm = "fixed_window"
limit = 1
window = "1h"
`);

  afterAll(async () => {
    for (const key of ["upload", "ip:1", "user:bob"]) await rs.reset(key);
    await rs.close();
  });

  it("peeks at a concurrency limit without taking a slot", async () => {
    const lease = await rs.acquire("upload");
    expect((await rs.peek("upload")).concurrency).toEqual({ held: 1, max: 2 });
    await lease.release();
    expect((await rs.peek("upload")).concurrency).toEqual({ held: 0, max: 2 });
  });

  it("reports what a member of a refused composite still has", async () => {
    expect((await rs.tryAcquire(["ip:1", "user:bob"])).allowed).toBe(true);
    const refused = await rs.tryAcquire(["ip:1", "user:bob"]);
    expect(refused.allowed).toBe(false);
    expect(refused.limiter).toBe("user:<user>");
    expect(refused.results?.[0]).toMatchObject({ allowed: true, remaining: 2 });
    expect((await rs.peek("ip:1")).remaining).toBe(2);
  });
});
