import { describe, expect, it } from "vitest";
import { createLocator } from "../../src/config/locate.ts";

const source = [
  "# comment with [brackets] and key = value", // 1
  "title = 'x'", // 2
  "", // 3
  "[stores.main]", // 4
  'engine = "redis"  # trailing [comment]', // 5
  "url = [", // 6
  '  "redis://a:1", # first', // 7
  '  "redis://b:2",', // 8
  "]", // 9
  '  description = """', // 10
  "[not.a.table]", // 11
  'fake = "key" """', // 12
  '[limiters."api:<tenant>"]', // 13
  "rate = '100/s'", // 14
  'limits.inner = { a = 1, "b c" = { d = 2 } }', // 15
  "[[array.tables]]", // 16
  "x = 1", // 17
  "[ limiters . 'spaced' ]", // 18
  '  "quoted\\u0041" = 2', // 19
].join("\n");

describe("createLocator", () => {
  const locate = createLocator(source);

  it.each([
    [["title"], 2, 1],
    [["stores"], 4, 1],
    [["stores", "main"], 4, 1],
    [["stores", "main", "engine"], 5, 1],
    [["stores", "main", "url"], 6, 1],
    [["stores", "main", "url", "1"], 8, 3],
    [["stores", "main", "description"], 10, 3],
    [["limiters", "api:<tenant>"], 13, 1],
    [["limiters", "api:<tenant>", "rate"], 14, 1],
    [["limiters", "api:<tenant>", "limits", "inner", "b c", "d"], 15, 35],
    [["array", "tables", "x"], 17, 1],
    [["limiters", "spaced", "quotedA"], 19, 3],
  ] as const)("%j is at %d:%d", (path, line, column) => {
    expect(locate(path)).toEqual({ line, column });
  });

  it("does not mistake text inside multi-line strings for tables or keys", () => {
    // Falls back to the enclosing table that exists; `not` is not one.
    expect(locate(["not", "a", "table"])).toBeUndefined();
    expect(locate(["stores", "main", "fake"])).toEqual({ line: 4, column: 1 });
  });

  it("falls back to the closest enclosing table for missing keys", () => {
    expect(locate(["limiters", "api:<tenant>", "burst"])).toEqual({ line: 13, column: 1 });
  });

  it("never throws on broken text", () => {
    for (const text of ['[a\nb = "unterminated\n[c]\nd = {', "= = =\n[[\n]]", "a = [[[[[[", '"""']) {
      expect(() => createLocator(text)(["a", "b"])).not.toThrow();
    }
  });

  it("handles CRLF line endings", () => {
    expect(createLocator("[a]\r\nb = 1\r\n")(["a", "b"])).toEqual({ line: 2, column: 1 });
  });
});
