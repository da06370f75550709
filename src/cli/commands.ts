/**
 * @module
 * The CLI's commands, separated from the process entry so they can be tested and reused.
 */

import { configSchemaJson, describeConfig } from "../config/describe.ts";
import { loadConfig } from "../config/load.ts";
import { MASK, maskUrl } from "../config/mask.ts";
import type { ConfigSnapshot, LimiterConfig, StoreConfig } from "../config/types.ts";
import { RateSync } from "../core/rate-sync.ts";
import { formatConfigIssue, isConfigError, isRateSyncError } from "../errors.ts";

/** Where the CLI writes, and the environment it reads. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: Record<string, string | undefined>;
}

const USAGE = `Usage: rate-sync <command> [arguments] [--json]

Commands:
  check [file]           validate a config; print its stores (secrets masked) and effective limiters
  explain <key> [file]   which limiter or template a key resolves to, and its parameters
  inspect <key> [file]   the key's current state in its store (consumes nothing)
  sql [file]             PostgreSQL DDL for the postgres stores of a config
  schema                 the JSON Schema of rate-sync.toml

Without [file], the config is found as the library finds it: $RATE_SYNC_CONFIG, ./rate-sync.toml,
./config/rate-sync.toml.
`;

class UsageError extends Error {}

async function load(file: string | undefined, io: CliIo): Promise<ConfigSnapshot> {
  const snapshot = await loadConfig(file, { env: io.env });
  if (!snapshot) {
    throw new UsageError(
      "no config file found (looked at $RATE_SYNC_CONFIG, ./rate-sync.toml, ./config/rate-sync.toml)",
    );
  }
  return snapshot;
}

function limiterSummary(config: LimiterConfig): Record<string, unknown> {
  return JSON.parse(JSON.stringify(config)) as Record<string, unknown>;
}

/** Runs the CLI with `args`; resolves to the exit code. */
export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  const json = args.includes("--json");
  const positional = args.filter((a) => a !== "--json");
  const [command, ...rest] = positional;
  const out = (text: string) => io.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
  try {
    switch (command) {
      case "check": {
        const snapshot = await load(rest[0], io);
        out(json ? JSON.stringify(describeJson(snapshot), null, 2) : describeConfig(snapshot));
        return 0;
      }
      case "schema":
        out(JSON.stringify(configSchemaJson(), null, 2));
        return 0;
      case "explain": {
        const key = requireKey(rest[0], "explain");
        // Quiet: the command reports every failure itself; a notice on stderr would say it twice.
        const rs = RateSync.fromSnapshot(await load(rest[1], io), { quiet: true });
        try {
          const config = rs.explain(key);
          if (!config) {
            io.stderr.write(`rate-sync: no limiter or template matches the key ${JSON.stringify(key)}\n`);
            return 1;
          }
          out(
            json
              ? JSON.stringify({ key, limiter: config.id, config: limiterSummary(config) }, null, 2)
              : `${JSON.stringify(key)} → limiter "${config.id}"\n${describeLimiterLines(config)}`,
          );
          return 0;
        } finally {
          await rs.close();
        }
      }
      case "inspect": {
        const key = requireKey(rest[0], "inspect");
        // Quiet: the command reports every failure itself; a notice on stderr would say it twice.
        const rs = RateSync.fromSnapshot(await load(rest[1], io), { quiet: true });
        try {
          const state = await rs.peek(key);
          out(
            json
              ? JSON.stringify(state, null, 2)
              : Object.entries(state)
                  .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
                  .join("\n"),
          );
          return 0;
        } finally {
          await rs.close();
        }
      }
      case "sql": {
        const snapshot = await load(rest[0], io);
        const { postgresDdl } = await import("../stores/postgres/ddl.ts");
        const stores = [...snapshot.stores.values()].filter((s) => s.engine === "postgres");
        if (stores.length === 0) {
          io.stderr.write("rate-sync: the config has no postgres store\n");
          return 1;
        }
        for (const store of stores) out(`-- store "${store.id}"\n${postgresDdl(store)}`);
        return 0;
      }
      case undefined:
      case "help":
      case "--help":
      case "-h":
        io.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (error) {
    if (isConfigError(error)) {
      for (const issue of error.issues) io.stderr.write(`${formatConfigIssue(issue)}\n`);
      return 1;
    }
    if (error instanceof UsageError) {
      io.stderr.write(`rate-sync: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (isRateSyncError(error)) {
      io.stderr.write(`rate-sync: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

function requireKey(key: string | undefined, command: string): string {
  if (key === undefined) throw new UsageError(`${command} needs a key`);
  return key;
}

function describeLimiterLines(config: LimiterConfig): string {
  return Object.entries(limiterSummary(config))
    .map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`)
    .join("\n");
}

function describeJson(snapshot: ConfigSnapshot): Record<string, unknown> {
  return {
    file: snapshot.file,
    defaults: snapshot.defaults,
    stores: Object.fromEntries([...snapshot.stores].map(([id, s]) => [id, maskStore(s)])),
    limiters: Object.fromEntries([...snapshot.limiters].map(([id, l]) => [id, limiterSummary(l)])),
  };
}

function maskStore(store: StoreConfig): unknown {
  const copy: Record<string, unknown> = { ...store };
  if (typeof copy.password === "string") copy.password = MASK;
  if (typeof store.engine === "string" && "url" in store) {
    copy.url = typeof store.url === "string" ? maskUrl(store.url) : store.url.map(maskUrl);
  }
  return copy;
}
