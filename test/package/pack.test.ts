import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { PACKAGE_ROOT, requireBuild } from "./built.ts";

const run = promisify(execFile);

/** One entry of `npm pack --dry-run --json`. */
interface PackReport {
  readonly files: readonly { readonly path: string }[];
}

/** Every file path a package.json value points at: strings, and strings nested in condition objects. */
function targets(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(targets);
  if (value !== null && typeof value === "object") return Object.values(value).flatMap(targets);
  return [];
}

/** `./dist/x.js` → `dist/x.js`, as the pack report writes paths. */
const packPath = (target: string): string => target.replace(/^\.\//, "");

const manifest = JSON.parse(readFileSync(resolve(PACKAGE_ROOT, "package.json"), "utf8")) as Record<
  string,
  unknown
>;

describe.skipIf(!requireBuild())("the packed tarball (#14.8)", () => {
  let files: Set<string>;

  beforeAll(async () => {
    // --ignore-scripts: only list what would be packed; nothing is built or written.
    const { stdout } = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
      cwd: PACKAGE_ROOT,
      maxBuffer: 16 * 1024 * 1024,
    });
    const [report] = JSON.parse(stdout) as PackReport[];
    files = new Set(report!.files.map((file) => file.path));
  });

  it("ships LICENSE, README.md and CHANGELOG.md", () => {
    for (const name of ["LICENSE", "README.md", "CHANGELOG.md"]) {
      expect(files.has(name), `${name} is missing from the tarball`).toBe(true);
    }
  });

  it("ships no source maps", () => {
    expect([...files].filter((path) => path.endsWith(".map"))).toEqual([]);
  });

  it("ships every file that exports, main, module, types, typesVersions and bin point at", () => {
    const pointers = {
      exports: manifest.exports,
      main: manifest.main,
      module: manifest.module,
      types: manifest.types,
      typesVersions: manifest.typesVersions,
      bin: manifest.bin,
    };
    const all = targets(pointers).map(packPath);
    expect(all.length).toBeGreaterThan(20);
    const missing = all.filter((target) => !files.has(target));
    expect(missing, `pointed at by package.json but not in the tarball: ${missing.join(", ")}`).toEqual([]);
  });

  it("sends every subpath export to types under node10 resolution too (typesVersions)", () => {
    const subpaths = Object.keys(manifest.exports as object)
      .filter((key) => key !== "." && key !== "./package.json")
      .map((key) => key.replace(/^\.\//, ""));
    const mapped = (manifest.typesVersions as Record<string, Record<string, string[]>>)["*"] ?? {};
    expect(Object.keys(mapped).sort()).toEqual(subpaths.sort());
  });
});
