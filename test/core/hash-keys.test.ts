import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { RateSync } from "../../src/index.ts";
import { requireRedis, uniqueName } from "../helpers/stores.ts";
import { deleteByPrefix } from "../stores/redis/setup.ts";

const redis = await requireRedis();

describe.skipIf(!redis.available)("hash_keys keeps raw keys out of the store (SPEC §2.4)", () => {
  const prefix = uniqueName("hashkeys");
  const raw = new Redis(redis.url);
  const rs = RateSync.fromToml(`
[stores.shared]
engine = "redis"
url = "${redis.url}"
key_prefix = "${prefix}"

[limiters."login:<email>"]
algorithm = "sliding_window"
limit = 2
window = "1m"
hash_keys = true

[limiters."plain:<email>"]
algorithm = "sliding_window"
limit = 2
window = "1m"
`);

  afterAll(async () => {
    await rs.close();
    await deleteByPrefix(raw, prefix);
    raw.disconnect();
  });

  async function storedKeys(): Promise<string> {
    // SCAN until the cursor comes back: one page may miss keys on a busy server.
    const found: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await raw.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      found.push(...keys);
      cursor = next;
    } while (cursor !== "0");
    return found.join("\n");
  }

  it("stores sha256(key), never the key, and still limits it", async () => {
    const key = "login:alice@example.com";
    expect((await rs.tryAcquire(key)).allowed).toBe(true);
    expect((await rs.tryAcquire(key)).allowed).toBe(true);
    expect((await rs.tryAcquire(key)).allowed).toBe(false);
    expect((await rs.peek(key)).remaining).toBe(0);
    const keys = await storedKeys();
    expect(keys).not.toContain("alice");
    expect(keys).toContain(createHash("sha256").update(key).digest("hex"));
    await rs.reset(key);
    expect((await rs.tryAcquire(key)).allowed).toBe(true);
  });

  it("stores the key itself without hash_keys (the contrast that makes the test above meaningful)", async () => {
    await rs.tryAcquire("plain:bob@example.com");
    expect(await storedKeys()).toContain("plain:bob@example.com");
  });
});
