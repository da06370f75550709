/**
 * #13 item 6: large config files. A file of 100,000 limiters loads and reloads correctly; building the
 * registry costs one template index build per load or reload (not one per limiter, which made loading
 * quadratic); a file over the size limit is refused with a ConfigError saying so; and a ConfigError lists a
 * bounded number of issues however many there are. Timings are not asserted (the machine may be loaded);
 * `bench/config-load.ts` measures them.
 */

import { writeFileSync } from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { limiterFile, limiterId } from "../../bench/config-load.ts";
import { MAX_CONFIG_BYTES, MAX_LISTED_ISSUES } from "../../src/config/load.ts";
import { ConfigError, RateSync } from "../../src/index.ts";
import { BoundedCache } from "../../src/limiters/bounded-cache.ts";
import { tempConfigFile } from "./files.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function configFile(text: string): string {
  const { file, remove } = tempConfigFile(text);
  cleanups.push(remove);
  return file;
}

const id = limiterId;

describe("a file of 100,000 limiters", () => {
  it("loads and hot-reloads with every limiter in place", async () => {
    const file = configFile(limiterFile(100_000, 10));
    const rs = await RateSync.fromFile(file);
    cleanups.push(() => rs.close());
    expect(rs.limiterIds()).toHaveLength(100_000);
    expect(rs.limiterIds()[99_999]).toBe(id(99_999));
    expect(rs.explain(id(54_321))?.policy.quota).toBe(10);
    expect((await rs.tryAcquire(id(77_777))).allowed).toBe(true);

    // Half the limiters change, a quarter are replaced by new ids.
    const lines: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      const name = i >= 75_000 ? `n${String(i).padStart(6, "0")}` : id(i);
      lines.push(`[limiters.${name}]\nrate = "${i % 2 === 0 ? 20 : 10}/s"\n`);
    }
    writeFileSync(file, lines.join(""));
    const event = await rs.reload();
    expect(event.added).toHaveLength(25_000);
    expect(event.removed).toHaveLength(25_000);
    expect(event.changed).toHaveLength(37_500);
    expect(rs.limiterIds()).toHaveLength(100_000);
    expect(rs.explain(id(2))?.policy.quota).toBe(20);
    expect(rs.explain(id(3))?.policy.quota).toBe(10);
    expect(rs.explain("n099999")?.policy.quota).toBe(10);
    expect(rs.explain(id(99_999))).toBeUndefined();
  }, 240_000);
});

describe("building the registry is linear", () => {
  it("one template index build per load and per reload, whatever the number of limiters", async () => {
    // Each build of the index drops the resolution cache: counting `clear` counts the builds.
    const clears = vi.spyOn(BoundedCache.prototype, "clear");
    const templates = (count: number, prefix: string) =>
      Array.from({ length: count }, (_, i) => `[limiters."${prefix}${i}:<id>"]\nrate = "5/s"\n`).join("");
    const file = configFile(limiterFile(2_000) + templates(1_000, "t"));
    const rs = await RateSync.fromFile(file);
    cleanups.push(() => rs.close());
    expect(clears).toHaveBeenCalledTimes(1);
    expect(rs.explain("t999:42")?.id).toBe("t999:<id>");

    // Added and removed templates and limiters: still one build.
    clears.mockClear();
    writeFileSync(file, limiterFile(1_000) + templates(1_000, "u"));
    const event = await rs.reload();
    expect(event.added).toHaveLength(1_000);
    expect(event.removed).toHaveLength(2_000);
    expect(clears).toHaveBeenCalledTimes(1);
    expect(rs.explain("t1:42")).toBeUndefined();
    expect(rs.explain("u1:42")?.id).toBe("u1:<id>");
  });
});

describe("size limit", () => {
  const oversize = () => `# ${"x".repeat(MAX_CONFIG_BYTES)}\n[limiters.api]\nrate = "1/s"\n`;

  it("a file over the limit is refused on load, naming the limit", async () => {
    const file = configFile(oversize());
    const error = await RateSync.fromFile(file).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(
      /the config is 16\.0 MiB \(\d+ bytes\); at most 16\.0 MiB/,
    );
  });

  it("a file grown over the limit is refused on reload; the running config stays", async () => {
    const file = configFile('[limiters.api]\nrate = "1/s"\n');
    const rs = await RateSync.fromFile(file);
    cleanups.push(() => rs.close());
    writeFileSync(file, oversize());
    await expect(rs.reload()).rejects.toThrow(/at most 16\.0 MiB \(16777216 bytes\) is accepted/);
    expect(rs.limiterIds()).toEqual(["api"]);
  });

  it("TOML text over the limit is refused too", () => {
    expect(() => RateSync.fromToml(oversize())).toThrow(/at most 16\.0 MiB/);
  });
});

describe("the issue list is bounded", () => {
  it(`lists ${MAX_LISTED_ISSUES} issues in file order, then how many more were left`, () => {
    const text = Array.from({ length: 20_000 }, (_, i) => `[limiters.l${i}]\nrate = "ten per second"\n`).join(
      "",
    );
    let error: unknown;
    try {
      RateSync.fromToml(text, { file: "many.toml" });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { issues, message } = error as ConfigError;
    expect(issues).toHaveLength(MAX_LISTED_ISSUES + 1);
    expect(issues[0]).toMatchObject({ line: 2, path: "limiters.l0.rate" });
    expect(issues[MAX_LISTED_ISSUES - 1]).toMatchObject({ path: `limiters.l${MAX_LISTED_ISSUES - 1}.rate` });
    // Once the list is full, the remaining tables are counted, not checked (checking 250k took 20 s).
    expect(issues[MAX_LISTED_ISSUES]?.message).toBe(
      `… and ${(20_000 - MAX_LISTED_ISSUES).toLocaleString("en-US")} more limiter tables not checked`,
    );
    expect(message.split("\n")).toHaveLength(MAX_LISTED_ISSUES + 2);
    expect(message.length).toBeLessThan(100 * 1024);
  });

  it("counts the issues found beyond the list", () => {
    // One table with many issues: every key unknown. All are found, 100 listed.
    const keys = Array.from({ length: 150 }, (_, i) => `k${i} = 1`).join("\n");
    const error = (() => {
      try {
        RateSync.fromToml(`[limiters.api]\nrate = "1/s"\n${keys}\n`);
      } catch (caught) {
        return caught as ConfigError;
      }
      throw new Error("accepted");
    })();
    expect(error.issues).toHaveLength(MAX_LISTED_ISSUES + 1);
    expect(error.issues[MAX_LISTED_ISSUES]?.message).toBe("… and 50 more issues");
  });
});
