// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are ${VAR} references on purpose
/**
 * #13 item 5: inputs nested thousands deep (a dotted key or table header of thousands of segments, `${…}`
 * references inside one another) are refused with a ConfigError that names the line, never a RangeError from
 * a stack overflow, and without the seconds of work they used to take.
 */

import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../src/config/load.ts";
import { ConfigError } from "../../src/index.ts";

/** The ConfigError `text` is refused with (fails the test on any other outcome, a RangeError included). */
function refusal(text: string): ConfigError {
  try {
    parseConfigText(text, { env: {}, file: "deep.toml" });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("the config was accepted");
}

const segments = (count: number) => Array.from({ length: count }, () => "a").join(".");
const nestedDefaults = (depth: number) => `${"${X:-".repeat(depth)}10/s${"}".repeat(depth)}`;

describe("deep nesting is a ConfigError with its line", () => {
  it.each([3_000, 50_000])("a dotted key of %i segments", (count) => {
    const error = refusal(`[limiters.api]\nrate = "1/s"\n\n[limiters.b]\n${segments(count)} = 1\n`);
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]).toMatchObject({ file: "deep.toml", line: 5 });
    expect(error.issues[0]?.message).toMatch(/more than 32 dotted parts/);
  });

  it.each([3_000, 50_000])("a table header of %i segments", (count) => {
    const error = refusal(`[limiters.api]\nrate = "1/s"\n[${segments(count)}]\nb = 1\n`);
    expect(error.issues[0]).toMatchObject({ file: "deep.toml", line: 3 });
    expect(error.issues[0]?.message).toMatch(/more than 32 dotted parts/);
  });

  it("tables nested deeper than the bound through several headers and keys", () => {
    // No single key is over the bound, but together they are: reported at the first level too deep.
    const error = refusal(`[${segments(20)}]\n${segments(20)} = 1\n`);
    const deep = error.issues.find((issue) => /nested 33 or more levels deep/.test(issue.message));
    expect(deep?.line).toBe(2);
  });

  it.each([5_000, 50_000])("${X:-${X:-…}} nested %i deep", (depth) => {
    const error = refusal(`[limiters.api]\n\nrate = "${nestedDefaults(depth)}"\n`);
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]).toMatchObject({ file: "deep.toml", line: 3, path: "limiters.api.rate" });
    expect(error.issues[0]?.message).toMatch(/nested \d+ deep; at most 16 levels/);
  });

  it("references nested up to the bound still resolve", () => {
    const snapshot = parseConfigText(`[limiters.api]\nrate = "${nestedDefaults(16)}"\n`, { env: {} });
    expect(snapshot.limiters.get("api")?.policy.quota).toBe(10);
  });

  it("a dotted key or header within the bound and dots inside strings are fine", () => {
    const dots = ".".repeat(100);
    const snapshot = parseConfigText(
      `[limiters."a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.0.1.2.3.4.5.6.7"]\nrate = "1/s"\n# ${dots}\n`,
      { env: {} },
    );
    expect(snapshot.limiters.size).toBe(1);
  });
});
