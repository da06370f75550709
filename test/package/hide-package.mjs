/**
 * Preload (`node --import <this file>`) that makes one package look uninstalled, for both `import` and
 * `require`, as on a machine where it was never installed: the package named by `RATE_SYNC_HIDE_PACKAGE`
 * (and its subpaths) fails to resolve with the runtime's own error codes (`ERR_MODULE_NOT_FOUND` for
 * `import`, `MODULE_NOT_FOUND` for `require`).
 */

import Module, { register } from "node:module";

const hidden = process.env.RATE_SYNC_HIDE_PACKAGE;
if (!hidden) throw new Error("hide-package.mjs: set RATE_SYNC_HIDE_PACKAGE to the package to hide");

const isHidden = (specifier) => specifier === hidden || specifier.startsWith(`${hidden}/`);

// require(): Node 20's CommonJS loader resolves every request through Module._resolveFilename.
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (isHidden(request)) {
    throw Object.assign(new Error(`Cannot find module '${request}'`), { code: "MODULE_NOT_FOUND" });
  }
  return resolveFilename.call(this, request, ...rest);
};

// import: an ESM resolve hook, registered after any loader given before this file, so it runs first.
const hook = `
const hidden = ${JSON.stringify(hidden)};
export async function resolve(specifier, context, next) {
  if (specifier === hidden || specifier.startsWith(hidden + "/")) {
    throw Object.assign(new Error("Cannot find package '" + specifier + "' imported from " + context.parentURL), {
      code: "ERR_MODULE_NOT_FOUND",
    });
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
