/**
 * @module
 * The version `rate-sync --version` prints: the `version` of the package's own package.json.
 */

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The package version, read from the nearest package.json named `rate-sync` above this module. Searched for
 * rather than imported at a fixed relative path: the same code runs from `src/cli/` under tsx and from a
 * bundled chunk under `dist/`, at different depths.
 */
export function packageVersion(from: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(from));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === "rate-sync" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // No (readable) package.json here: keep looking further up.
    }
    const parent = dirname(dir);
    if (parent === dir) return "unknown";
    dir = parent;
  }
}
