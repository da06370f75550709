import { describe } from "vitest";
import { requireRedis, uniqueName } from "../helpers/stores.ts";
import { describeCounting } from "./counting-suite.ts";

const redis = await requireRedis();
// Every key this file creates lives under its own prefix (and expires with its window).
const prefix = uniqueName("observability_counts");

describe.skipIf(!redis.available)("on Redis", () => {
  describeCounting("redis", () => ({
    storeToml: `engine = "redis"\nurl = "${redis.url}"\nkey_prefix = "${prefix}"`,
    overLimitCache: true,
  }));
});
