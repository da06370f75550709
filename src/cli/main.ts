#!/usr/bin/env node
/**
 * @module
 * The `rate-sync` command: offline checks and inspection with the very same loader the library uses.
 *
 *   rate-sync check [file] [--json]        validate; print stores (secrets masked) and effective limiters
 *   rate-sync explain <key> [file] [--json] which limiter or template a key resolves to, with its parameters
 *   rate-sync inspect <key> [file] [--json] the key's current state in its store (consumes nothing)
 *   rate-sync clear <id> [file] --yes [--json] forget every key's state of a limiter or template (needs --yes)
 *   rate-sync sql [file]                   PostgreSQL DDL for the configured postgres stores
 *   rate-sync schema                       the JSON Schema of the config file
 *   rate-sync top <snapshot> [limiter]     the keys denied most, from a JSON file of rs.topKeysSnapshot()
 *
 *   rate-sync --version | -v                the package version
 *
 * Exit codes: 0 success, 1 invalid config or failed command, 2 wrong usage (an unknown command or option, a
 * missing key, extra arguments). With --json, failures are JSON on stdout too.
 */

import { runCli } from "./commands.ts";

runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`rate-sync: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
