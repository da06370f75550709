import { createRequire } from "node:module";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { PACKAGE_ROOT, requireBuild } from "./built.ts";

/** The two builds of the package's main entry: both load when one dependency `import`s it and another `require`s it. */
type Errors = typeof import("../../src/errors.ts");

describe.skipIf(!requireBuild())("errors across the ESM and the CJS copies of the package", () => {
  it("each copy's guards recognise the other copy's errors, and only rate-sync errors", async () => {
    const esm = (await import(pathToFileURL(resolve(PACKAGE_ROOT, "dist/index.js")).href)) as Errors;
    const cjs = createRequire(import.meta.url)(resolve(PACKAGE_ROOT, "dist/index.cjs")) as Errors;
    expect(esm.RateLimitExceededError).not.toBe(cjs.RateLimitExceededError);

    const fromCjs = new cjs.RateLimitExceededError("k", "api", 10);
    const fromEsm = new esm.StoreError("main", "down");
    expect(fromCjs).not.toBeInstanceOf(esm.RateLimitExceededError);
    expect(esm.isRateSyncError(fromCjs)).toBe(true);
    expect(esm.isRateLimitExceededError(fromCjs)).toBe(true);
    expect(esm.isStoreError(fromCjs)).toBe(false);
    expect(cjs.isStoreError(fromEsm)).toBe(true);
    expect(cjs.isRateSyncError(fromEsm)).toBe(true);

    const enoent = Object.assign(new Error("x"), { code: "ENOENT" });
    expect(esm.isRateSyncError(enoent)).toBe(false);
    expect(cjs.isRateSyncError(enoent)).toBe(false);
  });
});
