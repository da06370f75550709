// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are ${VAR} references on purpose
import { describe, expect, it } from "vitest";
import {
  interpolateDocument,
  interpolateDocumentSteps,
  interpolateString,
} from "../../src/config/interpolate.ts";
import { STEP_SIZE } from "../../src/config/steps.ts";

const env = { SET: "value", EMPTY: "", HOST: "cache" };
const ok = (text: string) => ({ ok: true, text });

describe("interpolateString", () => {
  it.each([
    ["${SET}", "value"],
    ["${EMPTY}", ""],
    ["a-${SET}-b", "a-value-b"],
    ["${UNSET:-fallback}", "fallback"],
    ["${EMPTY:-fallback}", "fallback"],
    ["${SET:-fallback}", "value"],
    ["${UNSET-fallback}", "fallback"],
    ["${EMPTY-fallback}", ""],
    ["${SET-fallback}", "value"],
    ["${UNSET:-}", ""],
    ["${SET:?needed}", "value"],
    ["$$", "$"],
    ["$${SET}", "${SET}"],
    ["price: $5", "price: $5"],
    ["ends with $", "ends with $"],
    ["${UNSET:-redis://${HOST}:6379}", "redis://cache:6379"],
    ["${UNSET:-a}${SET}", "avalue"],
  ])("%s → %s", (input, expected) => {
    expect(interpolateString(input, env)).toEqual(ok(expected));
  });

  it("names an unset variable", () => {
    expect(interpolateString("${UNSET}", env)).toEqual({
      ok: false,
      messages: ["environment variable UNSET is not set (use ${UNSET:-default} to give a default)"],
    });
  });

  it("reports ${VAR:?message} with the message, for unset and for empty", () => {
    for (const name of ["UNSET", "EMPTY"]) {
      expect(interpolateString(`\${${name}:?set it to the Redis URL}`, env)).toEqual({
        ok: false,
        messages: [`environment variable ${name} is not set or empty: set it to the Redis URL`],
      });
    }
  });

  it("collects every failure of one string", () => {
    const result = interpolateString("${A}:${B}", {});
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.messages).toHaveLength(2);
  });

  it("rejects malformed references", () => {
    expect(interpolateString("${1X}", env).ok).toBe(false);
    expect(interpolateString("${SET", env).ok).toBe(false);
    expect(interpolateString("${SET:x}", env).ok).toBe(false);
  });

  it("does not treat an inherited property as a variable", () => {
    expect(interpolateString("${constructor}", {}).ok).toBe(false);
  });
});

describe("interpolateDocument", () => {
  it("interpolates values in tables, arrays and keys, and keeps other values", () => {
    const document = {
      stores: {
        "${SET}": { url: ["redis://${HOST}:1", "redis://${HOST}:2"], pool_max_size: 5, cluster: true },
      },
    };
    const result = interpolateDocument(document, env);
    expect(result.issues).toEqual([]);
    expect(JSON.parse(JSON.stringify(result.value))).toEqual({
      stores: { value: { url: ["redis://cache:1", "redis://cache:2"], pool_max_size: 5, cluster: true } },
    });
    // Paths map back to the keys as written, so issues about interpolated ids can be located.
    expect(result.sourcePath(["stores", "value", "url"])).toEqual(["stores", "${SET}", "url"]);
  });

  it("collects every issue with its path", () => {
    const result = interpolateDocument(
      {
        limiters: { api: { rate: "${RATE}", store: "${STORE}" }, "x${ID}": { limit: 1 } },
        list: ["${ITEM}"],
      },
      {},
    );
    expect(result.issues.map((issue) => issue.path.join("."))).toEqual([
      "limiters.api.rate",
      "limiters.api.store",
      "limiters.x${ID}",
      "list.0",
    ]);
    expect(result.issues[0]?.message).toContain("RATE");
  });

  it("reports two keys that become one", () => {
    const result = interpolateDocument({ limiters: { "${A}": {}, b: {} } }, { A: "b" });
    expect(result.issues).toHaveLength(1);
    expect(result.issues[0]?.message).toContain('becomes "b"');
  });

  it("keeps tables where nothing changes, and copies a large table in steps when its last one changes", () => {
    const count = 10 * STEP_SIZE;
    const limiters: Record<string, unknown> = {};
    for (let i = 0; i < count - 1; i++) limiters[`l${i}`] = { rate: "10/s" };
    limiters.last = { rate: "${RATE}" };
    const steps = interpolateDocumentSteps({ limiters }, { RATE: "1/s" });
    let yields = 0;
    let next = steps.next();
    for (; !next.done; next = steps.next()) yields++;
    const out = (next.value.value as { limiters: Record<string, { rate: string }> }).limiters;
    expect(out.last?.rate).toBe("1/s");
    expect(out.l0).toBe(limiters.l0);
    expect(Object.keys(out)).toEqual(Object.keys(limiters));
    // One pause per STEP_SIZE tables visited, and as many again while the tables before `last` are copied.
    expect(yields).toBeGreaterThanOrEqual(2 * (count / STEP_SIZE) - 1);
  });

  it("builds tables without a prototype, so __proto__ is a plain key", () => {
    // JSON.parse makes `__proto__` an own property, as smol-toml does for `[limiters.__proto__]`.
    const input: unknown = JSON.parse('{"__proto__": {"polluted": "${SET}"}}');
    const result = interpolateDocument({ limiters: input }, env);
    const limiters = (result.value as { limiters: Record<string, unknown> }).limiters;
    expect(Object.getPrototypeOf(limiters)).toBeNull();
    expect(Object.keys(limiters)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
