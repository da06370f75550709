/**
 * Overrides in one process (no `[overrides]`: kept in process): the layering over the file, a concrete key of a
 * template, validation, expiry, reloads, explain and the events.
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, type OverrideEvent, RateSync } from "../../src/index.ts";

const FILE = `
[limiters.api]
rate = "2/min"

[limiters."api:<tenant>"]
rate = "2/min"
`;

/** How many of `n` calls of `key` are allowed now. */
async function admitted(rs: RateSync, key: string, n: number): Promise<number> {
  let allowed = 0;
  for (let i = 0; i < n; i++) if ((await rs.tryAcquire(key)).allowed) allowed++;
  return allowed;
}

const open: RateSync[] = [];
afterEach(async () => {
  for (const rs of open.splice(0)) await rs.close();
});
function make(text = FILE): RateSync {
  const rs = RateSync.fromToml(text, { quiet: true });
  open.push(rs);
  return rs;
}

describe("overrides in one process", () => {
  it("gives one concrete key of a template its own limit, and the others keep the template's", async () => {
    const rs = make();
    await rs.overrides.set("api:acme", { rate: "5/min" }, { reason: "INC-42", by: "alice" });
    expect(await admitted(rs, "api:acme", 10)).toBe(5);
    expect(await admitted(rs, "api:other", 10)).toBe(2);
    // The key keeps its template's name (policy, metrics) and its state.
    const decision = await rs.tryAcquire("api:acme");
    expect(decision.limiter).toBe("api:<tenant>");
    expect(decision.limit).toBe(5);
  });

  it("overrides a whole template; removing it falls back to the file", async () => {
    const rs = make();
    await rs.overrides.set("api:<tenant>", { burst: 4 });
    expect(await admitted(rs, "api:a", 10)).toBe(4);
    expect(await rs.overrides.unset("api:<tenant>")).toBe(true);
    expect(await admitted(rs, "api:b", 10)).toBe(2);
    expect(await rs.overrides.unset("api:<tenant>")).toBe(false);
  });

  it("lays a key's override over its template's override", async () => {
    const rs = make();
    await rs.overrides.set("api:<tenant>", { rate: "3/min" });
    await rs.overrides.set("api:acme", { burst: 6 });
    const explained = rs.overrides.explain("api:acme");
    expect(explained.limiter).toBe("api:<tenant>");
    expect(explained.effective).toEqual({ rate: "3/min", burst: 6 });
    expect(explained.sources).toEqual({ rate: "override:api:<tenant>", burst: "override:api:acme" });
    expect(rs.overrides.explain("api:zed").sources).toEqual({ rate: "override:api:<tenant>" });
    expect(rs.explain("api:acme")?.policy.quota).toBe(6);
  });

  it("refuses an override that names nothing or does not validate, naming the override and the field", async () => {
    const rs = make();
    await expect(rs.overrides.set("nothing", { rate: "5/s" })).rejects.toThrow(
      /override "nothing".*no limiter, template or key pattern matches/,
    );
    const error = await rs.overrides.set("api:acme", { rate: "lots" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues[0]?.keys).toEqual(["overrides", "api:acme", "rate"]);
    await expect(rs.overrides.set("api", { limit: 5 })).rejects.toThrow(/overrides\.api/);
    await expect(rs.overrides.set("api", { color: "red" } as never)).rejects.toThrow(/unknown key "color"/);
    expect(await rs.overrides.list()).toEqual([]);
    expect(await admitted(rs, "api:acme", 5)).toBe(2);
  });

  it("switches algorithm when the patch removes the file's keys with null", async () => {
    const rs = make();
    await rs.overrides.set("api", { algorithm: "fixed_window", rate: null, limit: 3, window: "1h" });
    expect(await admitted(rs, "api", 10)).toBe(3);
  });

  it("expires an override at its time, and says so", async () => {
    const rs = make();
    const events: OverrideEvent[] = [];
    rs.on("override", (event) => events.push(event));
    await rs.overrides.set("api:acme", { burst: 7 }, { ttl: 0.2 });
    expect(rs.explain("api:acme")?.policy.quota).toBe(7);
    await new Promise<void>((resolve) => rs.once("override", () => resolve()));
    expect(rs.explain("api:acme")?.policy.quota).toBe(2);
    expect(events.map((e) => e.action)).toEqual(["set", "expire"]);
    expect(await rs.overrides.list()).toEqual([]);
    const history = await rs.overrides.history();
    expect(history.map((h) => h.action)).toEqual(["expire", "set"]);
  });

  it("bounds the count of overrides", async () => {
    const rs = make(`[overrides]\nstore = "memory"\nmax_overrides = 2\n${FILE}`);
    await rs.overrides.set("api:a", { burst: 3 });
    await rs.overrides.set("api:b", { burst: 3 });
    await expect(rs.overrides.set("api:c", { burst: 3 })).rejects.toThrow(/max_overrides/);
    await rs.overrides.set("api:a", { burst: 4 }); // changing one that exists is fine
  });

  it("survives a reload of the file, and follows the file under it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rs-overrides-"));
    try {
      const file = join(dir, "rate-sync.toml");
      writeFileSync(file, FILE);
      const rs = await RateSync.fromFile(file, { quiet: true });
      open.push(rs);
      await rs.overrides.set("api:acme", { burst: 9 });
      writeFileSync(file, FILE.replaceAll('"2/min"', '"1/min"'));
      await rs.reload();
      // The file's rate changed under the override; the override's burst stays.
      expect(rs.explain("api:acme")?.policy.quota).toBe(9);
      expect(rs.overrides.explain("api:acme").effective).toEqual({ rate: "1/min", burst: 9 });
      expect(rs.explain("api:other")?.policy.quota).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("stays above DynamicConfig.update: the update changes the layer under the override", async () => {
    const rs = make();
    await rs.overrides.set("api", { burst: 8 });
    rs.dynamic("api").update({ rate: "4/min" });
    expect(rs.overrides.explain("api").effective).toEqual({ rate: "4/min", burst: 8 });
    expect(rs.explain("api")?.policy.quota).toBe(8);
    await rs.overrides.unset("api");
    expect(rs.explain("api")?.policy.quota).toBe(4);
  });

  it("takes off, and reports, an override a reload makes invalid; applies it again when the file allows it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rs-overrides-"));
    try {
      const file = join(dir, "rate-sync.toml");
      writeFileSync(file, FILE);
      const rs = await RateSync.fromFile(file, { quiet: true });
      open.push(rs);
      const errors: ConfigError[] = [];
      const events: string[] = [];
      rs.on("reloadError", (error) => errors.push(error));
      rs.on("override", (event) => events.push(`${event.action} ${event.id}`));
      await rs.overrides.set("api:acme", { burst: 9 });
      // A window algorithm has no burst: the override no longer fits the template under it.
      writeFileSync(
        file,
        FILE.replace(
          '"api:<tenant>"]\nrate = "2/min"',
          '"api:<tenant>"]\nalgorithm = "fixed_window"\nlimit = 3\nwindow = "1m"',
        ),
      );
      await rs.reload();
      expect(errors.map((e) => e.issues[0]?.path)).toEqual(['overrides."api:acme".burst']);
      expect(errors[0]?.message).toMatch(/burst/);
      expect(rs.explain("api:acme")?.policy.quota).toBe(3);
      writeFileSync(file, FILE);
      await rs.reload();
      expect(rs.explain("api:acme")?.policy.quota).toBe(9);
      expect(events).toEqual(["set api:acme", "unset api:acme", "set api:acme"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("applies a stored override once a limiter configured in code gives it something to apply to", async () => {
    const writer = make(`[overrides]\nstore = "memory"\n${FILE}`);
    await writer.overrides.set("api", { burst: 5 });
    writer.on("reloadError", () => {});
    writer.remove("api");
    await Promise.resolve(); // checked again once per turn, after the changes made in code
    expect(writer.overrides.applied()).toEqual([]);
    writer.configure("api", { rate: "2/min" });
    await Promise.resolve();
    expect(writer.explain("api")?.policy.quota).toBe(5);
  });

  it("is refused in the config when [overrides] names an unknown store", () => {
    expect(() => RateSync.fromToml(`[overrides]\nstore = "nope"\n${FILE}`)).toThrow(
      /overrides\.store: unknown store "nope"/,
    );
  });
});
