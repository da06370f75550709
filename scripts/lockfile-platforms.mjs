#!/usr/bin/env node
/**
 * Completes package-lock.json with the platform-specific optional packages (esbuild, rollup, Biome style
 * `@scope/pkg-<os>-<cpu>[-<libc>]`) that npm leaves out when the registry it resolved against does not serve
 * them. `npm ci` insists that every optional dependency named by a locked package has an entry, even one it
 * would skip on this platform; without the entries it refuses the lockfile.
 *
 * The added entries carry only a version and the os/cpu/libc fields read from the package name: npm skips
 * them on every other platform, and on their own platform installs them as usual from the registry.
 *
 *   node scripts/lockfile-platforms.mjs          add what is missing (after `npm install`)
 *   node scripts/lockfile-platforms.mjs --check  exit 1 when something is missing
 */
import { readFileSync, writeFileSync } from "node:fs";

const OS = [
  "android",
  "darwin",
  "freebsd",
  "linux",
  "openbsd",
  "openharmony",
  "sunos",
  "win32",
  "aix",
  "netbsd",
];
const CPU = ["arm64", "arm", "x64", "ia32", "loong64", "ppc64", "riscv64", "s390x", "mips64el", "wasm32"];

/** os, cpu and libc of a platform package, from its name; undefined when the name says no platform. */
function platformOf(name) {
  const parts = name.split("/").pop().split("-");
  for (let i = 0; i < parts.length - 1; i++) {
    if (!OS.includes(parts[i]) || !CPU.includes(parts[i + 1])) continue;
    const abi = parts.slice(i + 2).join("-");
    const platform = { os: [parts[i]], cpu: [parts[i + 1]] };
    if (parts[i] === "linux") {
      if (abi.startsWith("musl")) platform.libc = ["musl"];
      else if (abi.startsWith("gnu")) platform.libc = ["glibc"];
    }
    return platform;
  }
  return undefined;
}

const file = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(file, "utf8"));
const missing = [];
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const base = path === "" ? "" : `${path}/`;
    // npm places a dependency beside its dependent's nearest node_modules, usually the top level.
    if (lock.packages[`${base}node_modules/${name}`] || lock.packages[`node_modules/${name}`]) continue;
    const platform = platformOf(name);
    if (!platform) continue;
    missing.push(name);
    lock.packages[`node_modules/${name}`] = {
      version,
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
      ...platform,
    };
  }
}
if (process.argv.includes("--check")) {
  if (missing.length > 0) {
    console.error(
      `package-lock.json lacks ${missing.length} platform packages: run node scripts/lockfile-platforms.mjs`,
    );
    process.exit(1);
  }
} else if (missing.length > 0) {
  lock.packages = Object.fromEntries(
    Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b))),
  );
  writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
  console.log(`added ${missing.length} platform packages to package-lock.json`);
}
