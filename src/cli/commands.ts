/**
 * @module
 * The CLI's commands, separated from the process entry so they can be tested and reused.
 */

import { configSchemaJson, describeConfig, describeLimiter } from "../config/describe.ts";
import { loadConfig } from "../config/load-file.ts";
import { MASK, maskSecrets, maskUrl } from "../config/mask.ts";
import type {
  ConfigSnapshot,
  LimiterConfig,
  LimiterDefinition,
  PostgresStoreConfig,
  StoreConfig,
} from "../config/types.ts";
import { RateSync } from "../core/rate-sync.ts";
import {
  type ConfigIssue,
  formatConfigIssue,
  isConfigError,
  isRateSyncError,
  isStoreError,
} from "../errors.ts";
import { compileTemplate } from "../limiters/templates.ts";
import { commandUsage, parseArgs, UsageError } from "./args.ts";
import { describeLayers, explainLayers, OVERRIDE_USAGE, runOverride } from "./override-command.ts";
import { describeStoreFailure } from "./store-diagnosis.ts";
import { packageVersion } from "./version.ts";

/** Where the CLI writes, and the environment it reads. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: Record<string, string | undefined>;
  /** Standard input, read by `top -`. @default process.stdin */
  readonly stdin?: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>;
}

const USAGE = `Usage: rate-sync <command> [arguments] [--json]

Commands:
  check [file]           validate a config; print its stores (secrets masked) and effective limiters
  explain <key> [file]   which limiter or template a key resolves to, and its parameters
  inspect <key> [file]   the key's current state in its store (consumes nothing)
  top <snapshot> [limiter]
                         the keys denied most, from a JSON file the app wrote with rs.topKeysSnapshot()
                         ("-" reads standard input)
  clear <id> [file] --yes
                         forget the state of every key of a limiter or template (api:<userId>) in its
                         store; refused without --yes
  sql [file]             PostgreSQL DDL for the postgres stores of a config
  migrate [file]         bring the schema of each postgres store to this version (--dry-run: print only)
  schema                 the JSON Schema of rate-sync.toml
${OVERRIDE_USAGE}

Options:
  --json                 check, explain, inspect, top, clear: print JSON on stdout (failures too)
  --dry-run              migrate: print the statements it would run, change nothing
  --yes                  clear: confirm that the state may be deleted
  --help, -h             this help
  --version, -v          the version of rate-sync

Without [file], the config is found as the library finds it: $RATE_SYNC_CONFIG, ./rate-sync.toml,
./config/rate-sync.toml.
`;

/** A command that failed for a reason already worded for the user (exit code 1). */
class CommandFailure extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

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
  const out = (text: string) => io.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
  let json = false;
  try {
    if (args[0] === "override") {
      const command = await runOverride(args.slice(1), io);
      json = command.json;
      return await command.run();
    }
    const parsed = parseArgs(args);
    if (parsed.kind === "help") {
      io.stdout.write(USAGE);
      // `rate-sync` alone is a usage mistake; asking for help is not.
      return args.length === 0 ? 2 : 0;
    }
    if (parsed.kind === "version") {
      out(packageVersion());
      return 0;
    }
    json = parsed.json;
    const [first, second] = parsed.args;
    switch (parsed.command) {
      case "check": {
        const snapshot = await load(first, io);
        out(
          json ? JSON.stringify({ ok: true, ...describeJson(snapshot) }, null, 2) : describeConfig(snapshot),
        );
        return 0;
      }
      case "schema":
        out(JSON.stringify(configSchemaJson(), null, 2));
        return 0;
      case "explain": {
        out(await explain(first ?? "", await load(second, io), json));
        return 0;
      }
      case "inspect": {
        const key = first ?? "";
        const snapshot = await load(second, io);
        // Quiet: the command reports every failure itself; a notice on stderr would say it twice.
        const rs = RateSync.fromSnapshot(snapshot, { quiet: true });
        try {
          const state = await peek(rs, key, snapshot);
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
      case "top": {
        const { readTopKeys, formatTopKeys } = await import("./top.ts");
        const snapshot = await readTopKeys(first ?? "", second, io.stdin);
        out(json ? JSON.stringify(snapshot, null, 2) : formatTopKeys(snapshot));
        return 0;
      }
      case "clear": {
        const snapshot = await load(second, io);
        const target = clearTarget(first ?? "", snapshot);
        if (!parsed.yes) {
          io.stderr.write(
            `rate-sync: clear forgets the usage and leases of every key of limiter ${JSON.stringify(target.limiter)} in store ` +
              `"${target.store.id}" (${target.store.engine}), for every process that shares it; ` +
              `run again with --yes to confirm (usage: ${commandUsage("clear")})\n`,
          );
          return 2;
        }
        const rs = RateSync.fromSnapshot(snapshot, { quiet: true });
        try {
          const cleared = await withStoreDiagnosis(() => rs.clear(target.limiter), snapshot);
          const result = { ok: true, limiter: target.limiter, store: target.store.id, cleared };
          out(
            json
              ? JSON.stringify(result, null, 2)
              : `cleared ${cleared} ${cleared === 1 ? "key" : "keys"} of limiter ${JSON.stringify(target.limiter)} in store "${target.store.id}" (${target.store.engine})`,
          );
          return 0;
        } finally {
          await rs.close();
        }
      }
      case "sql": {
        const snapshot = await load(first, io);
        const { postgresDdl } = await import("../stores/postgres/ddl.ts");
        const stores = [...snapshot.stores.values()].filter((s) => s.engine === "postgres");
        if (stores.length === 0)
          throw new CommandFailure("the config has no postgres store", "NO_POSTGRES_STORE");
        const { postgresOverridesDdl } = await import("../overrides/postgres-source.ts");
        for (const store of stores) {
          out(`-- store "${store.id}"\n${postgresDdl(store)}`);
          // The tables of `[overrides]`, for those who create everything by hand (`auto_create = false`).
          if (snapshot.overrides?.store === store.id) {
            out(
              `-- overrides on store "${store.id}"\n${postgresOverridesDdl(store)
                .map((s) => `${s};`)
                .join("\n")}`,
            );
          }
        }
        return 0;
      }
      case "migrate": {
        const snapshot = await load(first, io);
        const stores = [...snapshot.stores.values()].filter((s) => s.engine === "postgres");
        if (stores.length === 0)
          throw new CommandFailure("the config has no postgres store", "NO_POSTGRES_STORE");
        for (const store of stores) out(await migrateStore(store, parsed.dryRun));
        return 0;
      }
      default:
        // parseArgs only returns the commands above.
        throw new UsageError(`unknown command ${JSON.stringify(parsed.command)}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`rate-sync: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (isConfigError(error)) {
      if (json) {
        out(JSON.stringify(failureJson("CONFIG_INVALID", error.message, error.issues), null, 2));
      } else {
        for (const issue of error.issues) io.stderr.write(`${formatConfigIssue(issue)}\n`);
      }
      return 1;
    }
    if (error instanceof CommandFailure || isRateSyncError(error)) {
      if (json) out(JSON.stringify(failureJson(error.code, error.message, []), null, 2));
      else io.stderr.write(`rate-sync: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

/**
 * `rate-sync migrate` for one store: connects with one connection, runs the migrations under the store's
 * advisory lock (or, dry, works out what they would run), and says what it did.
 * @throws CommandFailure naming the store when it cannot connect or refuses the database's version.
 */
async function migrateStore(store: PostgresStoreConfig, dryRun: boolean): Promise<string> {
  const label = `store "${store.id}" (${store.schemaName}.${store.tableName})`;
  if (store.client !== undefined || store.url === undefined) {
    return `${label}: runs on client ${JSON.stringify(store.client)} given in code; the application migrates it when the store starts (auto_create), skipped`;
  }
  const { loadDriver } = await import("../stores/postgres/driver.ts");
  const { migrateSchema } = await import("../stores/postgres/migrate.ts");
  const postgres = await loadDriver(store.id);
  const sql = postgres(store.url, {
    max: 1,
    // As the store's pool (`pool.ts`): no type fetch, whose failure postgres.js leaves unhandled.
    fetch_types: false,
    onnotice: () => {},
    connect_timeout: Math.max(1, (store.socketConnectTimeoutMs ?? 5_000) / 1000),
  });
  try {
    const result = await migrateSchema(sql, store, { storeId: store.id, dryRun });
    const versions = result.applied.map((m) => `${m.version} (${m.description})`).join(", ");
    if (dryRun) {
      const head =
        result.applied.length === 0
          ? `${label}: at version ${result.from}, up to date; would refresh the functions:`
          : `${label}: at version ${result.from}; would apply ${versions}:`;
      return [head, ...result.statements.map((statement) => `${statement};`)].join("\n");
    }
    return result.applied.length === 0
      ? `${label}: up to date at version ${result.to}`
      : `${label}: version ${result.from} → ${result.to} (applied ${versions})`;
  } catch (error) {
    if (isStoreError(error)) throw new CommandFailure(`rate-sync migrate: ${error.message}`, error.code);
    const reason = maskSecrets(error instanceof Error ? error.message : String(error));
    throw new CommandFailure(await describeStoreFailure(store, reason), "STORE_ERROR");
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

/** What `--json` prints when a command fails: the error, and every config issue with its position. */
function failureJson(code: string, message: string, issues: readonly ConfigIssue[]): Record<string, unknown> {
  return {
    ok: false,
    error: { code, message },
    issues: issues.map((issue) => ({
      code: issue.code,
      file: issue.file,
      line: issue.line ?? null,
      column: issue.column ?? null,
      path: issue.path,
      keys: issue.keys,
      message: issue.message,
    })),
  };
}

/** `rs.peek`, with a store failure worded as the store id, its masked URL and the cause. */
function peek(rs: RateSync, key: string, snapshot: ConfigSnapshot) {
  return withStoreDiagnosis(() => rs.peek(key), snapshot);
}

/**
 * What `clear <id>` would clear: a limiter or template of the file, on a store the CLI can reach. An id that is
 * a key names the limiter to clear instead; a memory store is refused, since its state lives in the processes
 * that use it, not in this one.
 */
function clearTarget(id: string, snapshot: ConfigSnapshot): { limiter: string; store: StoreConfig } {
  const config = snapshot.limiters.get(id);
  if (config === undefined) {
    const rs = RateSync.fromSnapshot(snapshot, { quiet: true });
    let owner: LimiterConfig | undefined;
    try {
      owner = id.length > 0 ? rs.explain(id) : undefined;
    } finally {
      void rs.close();
    }
    throw new CommandFailure(
      owner === undefined
        ? `no limiter or template has the id ${JSON.stringify(id)}`
        : `${JSON.stringify(id)} is a key of limiter ${JSON.stringify(owner.id)}, not a limiter id: clear ${JSON.stringify(owner.id)} forgets every key of that limiter`,
      "UNKNOWN_LIMITER",
    );
  }
  const store = snapshot.stores.get(config.store);
  if (store === undefined)
    throw new CommandFailure(`no store "${config.store}" is configured`, "UNKNOWN_STORE");
  if (store.engine === "memory") {
    throw new CommandFailure(
      `limiter ${JSON.stringify(id)} is on the memory store "${store.id}": its state lives in each process that uses it, which this command cannot reach (call rs.clear(${JSON.stringify(id)}) there)`,
      "MEMORY_STORE",
    );
  }
  return { limiter: id, store };
}

/** Runs a store call, wording a store failure as the store id, its masked URL and the cause. */
async function withStoreDiagnosis<T>(call: () => Promise<T>, snapshot: ConfigSnapshot): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!isStoreError(error)) throw error;
    const store = snapshot.stores.get(error.store);
    if (store === undefined) throw error;
    throw new CommandFailure(await describeStoreFailure(store, error.message), error.code);
  }
}

/** How a key found its limiter (SPEC §3), in words and as data. */
function resolution(key: string, config: LimiterConfig): { text: string; data: Record<string, unknown> } {
  if (config.id === key) {
    return {
      text: "the limiter itself (exact id): every caller of this key shares one state",
      data: { kind: "exact" },
    };
  }
  if (config.isTemplate) {
    const template = compileTemplate(config.id);
    const values = template.pattern.exec(key)?.slice(1) ?? [];
    const params = Object.fromEntries(template.names.map((name, index) => [name, values[index] ?? ""]));
    const shown = Object.entries(params)
      .map(([name, value]) => `${name}=${JSON.stringify(value)}`)
      .join(", ");
    return {
      text: `template ${JSON.stringify(config.id)} with ${shown}: the key has its own state and follows the template's live config`,
      data: { kind: "template", params },
    };
  }
  const rest = key.slice(config.id.length + 1);
  return {
    text: `a separate "base:rest" clone of limiter ${JSON.stringify(config.id)} for ${JSON.stringify(rest)}: its own state under the key ${JSON.stringify(key)}, the live config of ${JSON.stringify(config.id)}`,
    data: { kind: "clone", base: config.id, rest },
  };
}

async function explain(key: string, snapshot: ConfigSnapshot, json: boolean): Promise<string> {
  // Quiet: the command reports every failure itself; a notice on stderr would say it twice.
  const rs = RateSync.fromSnapshot(snapshot, { quiet: true });
  let config: LimiterConfig | undefined;
  let layers: Awaited<ReturnType<typeof explainLayers>> | undefined;
  try {
    config = rs.explain(key);
    // The overrides in force (read from the store `[overrides]` names) are part of what the key runs under.
    if (config) {
      layers = await explainLayers(rs, snapshot, key);
      config = rs.explain(key);
    }
  } finally {
    await rs.close();
  }
  if (!config || !layers) {
    throw new CommandFailure(
      `no limiter or template matches the key ${JSON.stringify(key)}`,
      "UNKNOWN_LIMITER",
    );
  }
  const { explained, warning } = layers;
  const definition: LimiterDefinition = explained.effective;
  const how = resolution(key, config);
  // Key globs only: CIDR ranges match a client address, which a key alone does not carry.
  const list = snapshot.lists?.verdict(key) ?? null;
  if (json) {
    return JSON.stringify(
      {
        key,
        limiter: config.id,
        resolution: how.data,
        list,
        definition: snapshot.definitions.get(config.id) ?? {},
        overrides: explained.overrides,
        effective: explained.effective,
        sources: explained.sources,
        ...(warning === undefined ? {} : { warning }),
        config: limiterSummary(config),
      },
      null,
      2,
    );
  }
  return [
    `${JSON.stringify(key)} → limiter ${JSON.stringify(config.id)}`,
    `  resolved as: ${how.text}`,
    ...(list === null ? [] : [`  ${listText(list, snapshot)}`]),
    `  ${describeLimiter(config, definition, snapshot.defaults)}`,
    ...describeLayers(explained),
    ...(warning === undefined ? [] : [`  warning: ${warning}`]),
  ].join("\n");
}

/** What `explain` says of a key on a list. */
function listText(list: "allow" | "deny", snapshot: ConfigSnapshot): string {
  return list === "deny"
    ? `lists: on the deny list: refused at once without asking the store (retryAfterMs = Infinity, HTTP ${snapshot.lists?.denyStatus ?? 403}); the limits below never apply`
    : "lists: on the allow list: admitted without asking the store, nothing consumed; the limits below never apply";
}

function describeJson(snapshot: ConfigSnapshot): Record<string, unknown> {
  return {
    ...(snapshot.lists === undefined ? {} : { lists: snapshot.lists.source }),
    file: snapshot.file,
    defaults: snapshot.defaults,
    stores: Object.fromEntries([...snapshot.stores].map(([id, s]) => [id, maskStore(s)])),
    ...(snapshot.overrides === undefined ? {} : { overrides: snapshot.overrides }),
    limiters: Object.fromEntries(
      [...snapshot.limiters].map(([id, l]) => [
        id,
        // What was written, then what it works out to.
        { definition: snapshot.definitions.get(id) ?? {}, ...limiterSummary(l) },
      ]),
    ),
  };
}

function maskStore(store: StoreConfig): unknown {
  const copy: Record<string, unknown> = { ...store };
  if (typeof copy.password === "string") copy.password = MASK;
  if ((store.engine === "redis" || store.engine === "postgres") && store.url !== undefined) {
    copy.url = typeof store.url === "string" ? maskUrl(store.url) : store.url.map(maskUrl);
  }
  if (store.engine === "redis" && store.sentinel?.password !== undefined) {
    copy.sentinel = { ...store.sentinel, password: MASK };
  }
  return copy;
}
