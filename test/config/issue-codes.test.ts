import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type ConfigIssue, isConfigError, loadConfig, parseConfigText, RateSync } from "../../src/index.ts";
import { tempConfigFile } from "../reload/files.ts";

const cwd = fileURLToPath(new URL("../fixtures/bad/", import.meta.url));

async function issuesOf(file: string): Promise<readonly ConfigIssue[]> {
  const error = await loadConfig(file, { cwd, env: {} }).then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!isConfigError(error)) throw new Error(`${file} loaded without a ConfigError`);
  return error.issues;
}

function issuesOfText(text: string): readonly ConfigIssue[] {
  try {
    parseConfigText(text, { env: {} });
  } catch (error) {
    if (isConfigError(error)) return error.issues;
    throw error;
  }
  throw new Error("the text parsed without a ConfigError");
}

/** `code path-as-keys` of every issue, the parts a program branches on. */
const summary = (issues: readonly ConfigIssue[]) =>
  issues.map((issue) => `${issue.code} ${issue.keys.join("/")}`);

describe("config issues carry a code and the key path as an array", () => {
  it.each<[string, string[]]>([
    ["syntax-error.toml", ["toml_syntax "]],
    ["unknown-key.toml", ["unknown_key limiters/api/brust"]],
    ["misspelled-engine.toml", ["unknown_key stores/main/engin"]],
    ["unknown-store.toml", ["unknown_store limiters/api/store"]],
    ["unset-variable.toml", ["env stores/main/url", "env limiters/api/rate"]],
    ["rate-and-rate-per-second.toml", ["conflict limiters/api/rate_per_second"]],
    ["fail-closed-contradiction.toml", ["conflict limiters/api/fail_closed"]],
    [
      "several-errors.toml",
      [
        "invalid_value defaults/timeout",
        "invalid_value stores/main/engine",
        "out_of_range limiters/api/burst",
        "unknown_key limiters/api/colour",
        "conflict limiters/login/window_seconds",
      ],
    ],
  ])("%s", async (file, expected) => {
    expect(summary(await issuesOf(file))).toEqual(expected);
  });

  it("tells types, values, ranges and missing keys apart", () => {
    const issues = issuesOfText(
      [
        "[limiters.a]",
        "rate = 10", // a number where a string such as "10/s" is expected
        "[limiters.b]",
        'rate = "fast"',
        "[limiters.c]",
        'rate = "1/s"',
        "burst = 0",
        "[limiters.d]",
        'algorithm = "fixed_window"',
        "limit = 5",
      ].join("\n"),
    );
    expect(summary(issues)).toEqual([
      "invalid_type limiters/a/rate",
      "invalid_value limiters/b/rate",
      "out_of_range limiters/c/burst",
      "missing_key limiters/d",
    ]);
  });

  it("keeps keys unquoted where the path text quotes them", () => {
    const [issue] = issuesOfText('[limiters."api:<tenant>"]\nrate = "fast"');
    expect(issue?.path).toBe('limiters."api:<tenant>".rate');
    expect(issue?.keys).toEqual(["limiters", "api:<tenant>", "rate"]);
  });

  it("counts the issues it does not list in a last `more_issues` issue", () => {
    const tables = Array.from({ length: 120 }, (_, i) => `[limiters.l${i}]\nrate = "fast"`).join("\n");
    const issues = issuesOfText(tables);
    expect(issues).toHaveLength(101);
    expect(issues.at(-1)).toMatchObject({ code: "more_issues", keys: [], path: "" });
  });

  it("gives a refused reload the `file` code", async () => {
    const { file, remove } = tempConfigFile('[limiters.api]\nrate = "1/s"\n');
    const rs = await RateSync.fromFile(file, { quiet: true });
    try {
      writeFileSync(file, "");
      const error: unknown = await rs.reload().catch((reason: unknown) => reason);
      if (!isConfigError(error)) throw new Error("the empty file was applied");
      expect(error.issues).toEqual([
        { code: "file", file, path: "", keys: [], message: "the file is empty; the running config is kept" },
      ]);
      expect(rs.limiterIds()).toEqual(["api"]);
    } finally {
      await rs.close();
      remove();
    }
  });
});
