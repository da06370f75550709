/** Unclosed TOML strings are reported where they start (#14.7), through the loader as `rate-sync check` sees them. */
import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../src/config/load.ts";
import { findUnterminatedString } from "../../src/config/toml-error.ts";
import { isConfigError } from "../../src/errors.ts";

function tomlIssue(text: string): string {
  try {
    parseConfigText(text, { env: {} });
  } catch (error) {
    if (!isConfigError(error)) throw error;
    const [issue] = error.issues;
    return `${issue?.line}:${issue?.column} ${issue?.message}`;
  }
  throw new Error("parsed without an error");
}

describe("unterminated TOML strings", () => {
  it("names the line and column where a basic, literal or inline-table string starts", () => {
    expect(tomlIssue('[limiters.api]\nrate = "100/s\nburst = 1\n')).toMatch(
      /^2:8 invalid TOML: unterminated string starting at 2:8: close it with " on the same line/,
    );
    expect(tomlIssue("[limiters.api]\nrate = '100/s\n")).toMatch(
      /^2:8 invalid TOML: unterminated string starting at 2:8: close it with ' on the same line/,
    );
    expect(tomlIssue('[limiters.api]\nx = { rate = "1/s }\n')).toMatch(
      /^2:14 .*unterminated string starting at 2:14/,
    );
    // At the very end of a file without a final newline, too.
    expect(tomlIssue('[limiters.api]\nrate = "100/s')).toMatch(/^2:8 .*unterminated string starting at 2:8/);
  });

  it("reports an unclosed multi-line string where it opens", () => {
    expect(tomlIssue('[limiters.api]\nrate = """100/s\nburst = 1\n')).toBe(
      '2:8 invalid TOML: unterminated string starting at 2:8: close it with """',
    );
  });

  it("skips closed strings, escapes, comments and multi-line strings before the broken one", () => {
    const text = [
      'a = "say \\"hi\\" # not a comment"',
      "b = 'C:\\path'",
      '# a "quote in a comment',
      'c = """one',
      'two "" three"""',
      'd = "broken',
      "",
    ].join("\n");
    expect(findUnterminatedString(text)).toEqual({ line: 6, column: 5, delimiter: '"' });
    expect(findUnterminatedString("a = \"ok\"\nb = '''x\n'''\n")).toBeUndefined();
  });

  it("keeps the parser's own message for other syntax errors", () => {
    expect(tomlIssue("[limiters.api\n")).not.toMatch(/unterminated string/);
    expect(tomlIssue('a = "x\u0001y"\n')).toMatch(/control characters/);
  });
});
