/**
 * @module
 * Gate for tests of the built package (`dist/`, as `npm run build` writes it and `npm pack` ships it).
 *
 * Same policy as the store gates (test/helpers/stores.ts): under CI, which builds before testing, a missing
 * build is a FAILURE; elsewhere those tests skip with a loud warning (run `npm run build` to include them).
 */

import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { isCi } from "../helpers/stores.ts";

/** The repository root: the package directory `npm pack` runs in. */
export const PACKAGE_ROOT = resolve(import.meta.dirname, "../..");

/** True when `dist/` holds a build; throws under CI when it does not. */
export function requireBuild(): boolean {
  if (existsSync(resolve(PACKAGE_ROOT, "dist/index.js"))) return true;
  const message = "dist/ is not built (run `npm run build`)";
  if (isCi()) throw new Error(`${message}; CI requires it`);
  console.warn(
    `\n${"!".repeat(78)}\n!!! SKIPPING BUILT-PACKAGE TESTS: ${message}.\n!!! Set CI=1 to turn this into a failure.\n${"!".repeat(78)}\n`,
  );
  return false;
}
