import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { isStoreUnavailableError, StoreUnavailableError } from "../../src/index.ts";
import { loadPromClient } from "../../src/prometheus/prom-client.ts";
import { PACKAGE_ROOT, requireBuild } from "./built.ts";

const run = promisify(execFile);
const TSX = pathToFileURL(resolve(PACKAGE_ROOT, "node_modules/tsx/dist/loader.mjs")).href;
const HIDE = pathToFileURL(resolve(import.meta.dirname, "hide-package.mjs")).href;
const FRIENDLY =
  /^"rate-sync\/prometheus" needs the package "prom-client", which is not installed: run `npm install prom-client`$/;

/** What loading a module gave, as the child process saw it. */
interface Outcome {
  readonly loaded: boolean;
  readonly name?: string;
  readonly code?: string;
  readonly message?: string;
  readonly packageName?: string;
}

/**
 * Loads `specifier` in a fresh Node process and reports the outcome as one JSON line. `import` takes a URL or a
 * bare package name, `require` a path or a bare name.
 */
async function load(
  specifier: string,
  how: "import" | "require",
  options: { hide?: string; loaders?: string[] } = {},
): Promise<Outcome> {
  const script =
    `Promise.resolve().then(() => ${how}(process.argv[1])).then(` +
    `() => console.log(JSON.stringify({ loaded: true })), ` +
    `(e) => console.log(JSON.stringify({ loaded: false, name: e.name, code: e.code, message: e.message, packageName: e.packageName })))`;
  const loaders = [...(options.loaders ?? []), ...(options.hide === undefined ? [] : [HIDE])];
  const { stdout } = await run(
    process.execPath,
    [...loaders.flatMap((l) => ["--import", l]), "-e", script, specifier],
    { cwd: PACKAGE_ROOT, env: { ...process.env, RATE_SYNC_HIDE_PACKAGE: options.hide ?? "" } },
  );
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as Outcome;
}

/** An absolute file URL of a path in the repository, for `import`. */
const url = (path: string): string => pathToFileURL(resolve(PACKAGE_ROOT, path)).href;

function expectFriendly(outcome: Outcome): void {
  expect(outcome).toMatchObject({
    loaded: false,
    name: "StoreUnavailableError",
    code: "STORE_UNAVAILABLE",
    packageName: "prom-client",
  });
  expect(outcome.message).toMatch(FRIENDLY);
}

describe("rate-sync/prometheus without prom-client installed (#14.8)", () => {
  it("loadPromClient turns a failed require into StoreUnavailableError, keeping the cause", () => {
    const missing = Object.assign(new Error("Cannot find module 'prom-client'"), {
      code: "MODULE_NOT_FOUND",
    });
    let thrown: unknown;
    try {
      loadPromClient(() => {
        throw missing;
      });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(StoreUnavailableError);
    expect(isStoreUnavailableError(thrown)).toBe(true);
    expect((thrown as StoreUnavailableError).message).toMatch(FRIENDLY);
    expect((thrown as StoreUnavailableError).store).toBe("rate-sync/prometheus");
    expect((thrown as Error).cause).toBe(missing);
  });

  it("the hiding preload really hides prom-client from import and require (the simulation below relies on it)", async () => {
    expect(await load("prom-client", "require", { hide: "prom-client" })).toMatchObject({
      loaded: false,
      code: "MODULE_NOT_FOUND",
    });
    expect(await load("prom-client", "import", { hide: "prom-client" })).toMatchObject({
      loaded: false,
      code: "ERR_MODULE_NOT_FOUND",
    });
    expect(await load("prom-client", "import")).toEqual({ loaded: true });
  });

  it("importing the source entry fails with the friendly error, not ERR_MODULE_NOT_FOUND", async () => {
    expectFriendly(
      await load(url("src/prometheus/index.ts"), "import", { hide: "prom-client", loaders: [TSX] }),
    );
  });

  describe.skipIf(!requireBuild())("the built entry (dist)", () => {
    it("import of the ESM build fails with the friendly error", async () => {
      expectFriendly(await load(url("dist/prometheus/index.js"), "import", { hide: "prom-client" }));
    });

    it("require of the CommonJS build fails with the friendly error", async () => {
      expectFriendly(
        await load(resolve(PACKAGE_ROOT, "dist/prometheus/index.cjs"), "require", { hide: "prom-client" }),
      );
    });

    it("with prom-client installed, both builds load", async () => {
      expect(await load(url("dist/prometheus/index.js"), "import")).toEqual({ loaded: true });
      expect(await load(resolve(PACKAGE_ROOT, "dist/prometheus/index.cjs"), "require")).toEqual({
        loaded: true,
      });
    });
  });
});
