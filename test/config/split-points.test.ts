/**
 * Where a large config file is cut for the piece-by-piece parse of a reload (#13): before `[limiters.<id>]`
 * lines only, one cut per so many tables, and no cut at all when the file has any other shape.
 */

import { describe, expect, it } from "vitest";
import { isArrayIndex, limiterSplitPointsSteps } from "../../src/config/split-points.ts";
import { runSync } from "../../src/config/steps.ts";

const cutsOf = (text: string, perPiece = 2) => runSync(limiterSplitPointsSteps(text, perPiece));
const tables = (ids: string[]) => ids.map((id) => `[limiters.${id}]\nrate = "1/s"\n`).join("");

describe("limiterSplitPointsSteps", () => {
  it("cuts after the head, then every N limiter tables, at the start of their header line", () => {
    const head = '[stores.main]\nengine = "memory"\n\n[defaults]\nstore = "main"\n';
    const text = head + tables(["a", "b", "c", "d", "e"]);
    const cuts = cutsOf(text);
    expect(cuts.map((cut) => text.slice(cut, text.indexOf("\n", cut)))).toEqual([
      "[limiters.a]",
      "[limiters.c]",
      "[limiters.e]",
    ]);
    expect(cuts[0]).toBe(head.length);
  });

  it("takes quoted ids, spaces, comments, CRLF line ends and the sub-tables of a limiter", () => {
    const text = [
      '[ limiters . "api:<tenant>" ]  # per tenant\r\nrate = "1/s"\r\n',
      "[[limiters.'api:<tenant>'.limits]]\nrate = \"2/s\"\n",
      '[limiters.b]\nrate = "1/s"\n',
      '[limiters.c]\nrate = "1/s"\n',
    ].join("");
    expect(cutsOf(text)).toEqual([0, text.indexOf("[limiters.c]")]);
  });

  it("makes one piece of a file with another table after the limiters, or one written as [limiters]", () => {
    expect(cutsOf(`${tables(["a", "b", "c"])}[defaults]\nstore = "x"\n`)).toEqual([]);
    expect(cutsOf(`${tables(["a", "b", "c"])}[limiters]\nx.rate = "1/s"\n`)).toEqual([]);
    // A line inside a multi-line string that looks like another table: also one piece.
    expect(cutsOf(`${tables(["a", "b"])}[limiters.c]\nnote = """\n[stores.x]\n"""\n`)).toEqual([]);
  });

  it("makes one piece of a file with an array-index id or an interpolated id", () => {
    expect(cutsOf(tables(["a", "b", "7", "c"]))).toEqual([]);
    expect(cutsOf(tables(["a", "b", '"${TENANT}"', "c"]))).toEqual([]);
  });

  it("makes one piece of a file too small for two pieces after the head", () => {
    expect(cutsOf(tables(["a", "b"]))).toEqual([]);
    expect(cutsOf(tables(["a", "b", "c"]))).toHaveLength(2);
  });

  it("knows array indices as JavaScript orders them", () => {
    expect(["0", "7", "4294967294"].map(isArrayIndex)).toEqual([true, true, true]);
    expect(["01", "-1", "4294967295", "1e3", "a1"].map(isArrayIndex)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});
