import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import ts from "typescript";
import { beforeAll, describe, expect, it } from "vitest";
import tsupConfig from "../../tsup.config.ts";
import { PACKAGE_ROOT } from "./built.ts";

/**
 * #14.9: every name a user can import from the package — values and types, from `rate-sync` and from every
 * subpath entry — is written somewhere in README.md, in code (an inline code span or a code block), so the
 * docs cannot silently fall behind the exports again.
 */

const manifest = JSON.parse(readFileSync(resolve(PACKAGE_ROOT, "package.json"), "utf8")) as {
  exports: Record<string, unknown>;
};
const entries = (tsupConfig as { entry: Record<string, string> }).entry;

/** The source file behind each public subpath: `exports` → the built file → the tsup entry that builds it. */
function entryPoints(): { subpath: string; source: string }[] {
  return Object.entries(manifest.exports)
    .filter(([subpath]) => subpath !== "./package.json")
    .map(([subpath, conditions]) => {
      const built = (conditions as { import: { default: string } }).import.default;
      const name = built.replace(/^\.\/dist\//, "").replace(/\.js$/, "");
      const source = entries[name];
      if (source === undefined) throw new Error(`no tsup entry builds ${built} (exports["${subpath}"])`);
      return { subpath: subpath === "." ? "rate-sync" : `rate-sync/${subpath.slice(2)}`, source };
    });
}

/** Every exported name of each entry point, values and types, as TypeScript sees them. */
function exportedNames(): { subpath: string; name: string; kind: "value" | "type" }[] {
  const points = entryPoints();
  const program = ts.createProgram(
    points.map((point) => resolve(PACKAGE_ROOT, point.source)),
    {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      allowImportingTsExtensions: true,
      noEmit: true,
      skipLibCheck: true,
      types: ["node"],
    },
  );
  const checker = program.getTypeChecker();
  return points.flatMap((point) => {
    const file = program.getSourceFile(resolve(PACKAGE_ROOT, point.source));
    const module = file && checker.getSymbolAtLocation(file);
    if (module === undefined) throw new Error(`cannot read the exports of ${point.source}`);
    return checker.getExportsOfModule(module).map((symbol) => {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
      const kind = target.flags & ts.SymbolFlags.Value ? ("value" as const) : ("type" as const);
      return { subpath: point.subpath, name: symbol.name, kind };
    });
  });
}

/** The README's code: fenced blocks and inline code spans, where API names are written. */
function readmeCode(): string {
  const readme = readFileSync(resolve(PACKAGE_ROOT, "README.md"), "utf8");
  const fenced = readme.match(/^```[\s\S]*?^```/gm) ?? [];
  const prose = readme.replace(/^```[\s\S]*?^```/gm, "");
  const spans = prose.match(/`[^`\n]+`/g) ?? [];
  return [...fenced, ...spans].join("\n");
}

describe("README documents every export (#14.9)", () => {
  let names: ReturnType<typeof exportedNames>;

  // One TypeScript program for both tests: building it is the slow part.
  beforeAll(() => {
    names = exportedNames();
  }, 60_000);

  it("finds the exports of every entry point", () => {
    // Sanity: the reader sees all eight entry points and both kinds, so an empty list cannot pass below.
    expect(new Set(names.map((n) => n.subpath))).toEqual(
      new Set([
        "rate-sync",
        "rate-sync/express",
        "rate-sync/fastify",
        "rate-sync/hono",
        "rate-sync/koa",
        "rate-sync/nestjs",
        "rate-sync/prometheus",
        "rate-sync/otel",
      ]),
    );
    expect(names.some((n) => n.name === "RateSync" && n.kind === "value")).toBe(true);
    expect(names.some((n) => n.name === "Decision" && n.kind === "type")).toBe(true);
  });

  it("mentions each exported name in README.md code", () => {
    const code = readmeCode();
    const missing = names.filter(({ name }) => !new RegExp(`(?<![\\w$])${name}(?![\\w$])`).test(code));
    const list = missing.map(({ subpath, name, kind }) => `  ${name} (${kind}, exported by ${subpath})`);
    expect(
      missing,
      `README.md does not mention these exports; document each one (in code, \`like this\`) or stop exporting it:\n${list.join("\n")}`,
    ).toEqual([]);
  });
});
