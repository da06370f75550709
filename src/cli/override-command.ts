/**
 * @module
 * `rate-sync override set|unset|list|history`: runtime overrides from the command line, written to the store
 * the config's `[overrides]` names and validated against that config first. And the override layer of
 * `rate-sync explain`.
 */

import { userInfo } from "node:os";
import { loadConfig } from "../config/load-file.ts";
import { maskSecrets } from "../config/mask.ts";
import type { ConfigSnapshot, OverridesConfig } from "../config/types.ts";
import { RateSync } from "../core/rate-sync.ts";
import { isRateSyncError, RateSyncError } from "../errors.ts";
import type { ExplainedKey, OverrideChange, OverridePatch, OverrideRecord } from "../overrides/types.ts";
import { UsageError } from "./args.ts";
import { describeStoreFailure } from "./store-diagnosis.ts";

/** Where the command writes, and the environment it reads (as `runCli`'s). */
interface Io {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: Record<string, string | undefined>;
}

/** Usage of the override commands (part of the CLI's help). */
export const OVERRIDE_USAGE = `  override set <id> <key=value>... [--ttl 2h] [--reason TEXT] [--by NAME]
                         write an override of a limiter, template or single key, for every process
  override unset <id> [--reason TEXT] [--by NAME]
                         remove one: what is under it (the file) applies again
  override list          the overrides in force: what, who, when, why, until when
  override history       the last changes, newest first
                         (each takes --config FILE and --json; the store is [overrides] store)`;

const VALUED = ["--ttl", "--reason", "--by", "--config"] as const;
type Valued = (typeof VALUED)[number];

interface OverrideArgs {
  readonly action: "set" | "unset" | "list" | "history";
  readonly positional: readonly string[];
  readonly options: Partial<Record<Valued, string>>;
  readonly json: boolean;
}

function parseOverrideArgs(argv: readonly string[]): OverrideArgs {
  const [action, ...rest] = argv;
  if (action !== "set" && action !== "unset" && action !== "list" && action !== "history") {
    throw new UsageError(`override needs set, unset, list or history, got ${JSON.stringify(action ?? "")}`);
  }
  const positional: string[] = [];
  const options: Partial<Record<Valued, string>> = {};
  let json = false;
  let ended = false;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (ended || !arg.startsWith("--")) positional.push(arg);
    else if (arg === "--") ended = true;
    else if (arg === "--json") json = true;
    else {
      const [name, inline] = arg.includes("=")
        ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
        : [arg, undefined];
      if (!(VALUED as readonly string[]).includes(name))
        throw new UsageError(`unknown option ${JSON.stringify(arg)} for override ${action}`);
      const value = inline ?? rest[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      options[name as Valued] = value;
    }
  }
  const takes = action === "set" ? Number.POSITIVE_INFINITY : action === "unset" ? 1 : 0;
  const needs = action === "set" ? 2 : action === "unset" ? 1 : 0;
  if (positional.length < needs) {
    throw new UsageError(
      action === "set" ? "override set needs <id> and at least one key=value" : "override unset needs <id>",
    );
  }
  if (positional.length > takes)
    throw new UsageError(`too many arguments for override ${action}: ${positional.slice(takes).join(" ")}`);
  if (action !== "set" && options["--ttl"] !== undefined)
    throw new UsageError(`override ${action} does not take --ttl`);
  return { action, positional, options, json };
}

/** `rate=500/s` → `["rate", "500/s"]`; numbers, `true`/`false` and `null` (remove the key) are typed. */
function parseAssignment(text: string): [string, unknown] {
  const at = text.indexOf("=");
  if (at <= 0) throw new UsageError(`expected key=value, got ${JSON.stringify(text)}`);
  const key = text.slice(0, at);
  const raw = text.slice(at + 1);
  if (raw === "null") return [key, null];
  if (raw === "true" || raw === "false") return [key, raw === "true"];
  if (/^-?\d+(\.\d+)?$/.test(raw)) return [key, Number(raw)];
  return [key, raw];
}

/** Who writes, when not given: the login name (a record should always say who). */
function defaultAuthor(env: Record<string, string | undefined>): string | undefined {
  if (env.USER) return env.USER;
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

/** Runs `rate-sync override …`; resolves to the exit code. Errors are thrown for `runCli` to report. */
export async function runOverride(
  argv: readonly string[],
  io: Io,
): Promise<{ json: boolean; run: () => Promise<number> }> {
  const args = parseOverrideArgs(argv);
  return {
    json: args.json,
    run: async () => {
      const snapshot = await loadConfig(args.options["--config"], { env: io.env });
      if (!snapshot)
        throw new UsageError("no config file found (give --config FILE, or set $RATE_SYNC_CONFIG)");
      const out = (text: string) => io.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
      if (snapshot.overrides === undefined) {
        io.stderr.write(
          "rate-sync: the config has no [overrides] table: an override written here would live only in this command's process\n",
        );
        return 1;
      }
      const rs = RateSync.fromSnapshot(snapshot, { quiet: true });
      const store = snapshot.overrides.store;
      try {
        return await runAction(args, rs, snapshot.overrides, io, out);
      } catch (error) {
        if (error instanceof UsageError || isRateSyncError(error)) throw error;
        // The store's own error (a refused connection, a timeout): said with the store's id, secrets masked.
        const message = maskSecrets(error instanceof Error ? error.message : String(error));
        const config = snapshot.stores.get(store);
        const described = config === undefined ? message : await describeStoreFailure(config, message);
        throw new RateSyncError("STORE_ERROR", `${described} (the overrides could not be read or written)`, {
          cause: error,
        });
      } finally {
        await rs.close();
      }
    },
  };
}

/** One override action on an instance whose overrides are kept in the config's store. */
async function runAction(
  args: OverrideArgs,
  rs: RateSync,
  config: OverridesConfig,
  io: Io,
  out: (text: string) => unknown,
): Promise<number> {
  await rs.overrides.ready();
  const by = args.options["--by"] ?? defaultAuthor(io.env);
  const reason = args.options["--reason"];
  const notes = { ...(by === undefined ? {} : { by }), ...(reason === undefined ? {} : { reason }) };
  switch (args.action) {
    case "set": {
      const [id, ...assignments] = args.positional as [string, ...string[]];
      const patch = Object.fromEntries(assignments.map(parseAssignment)) as OverridePatch;
      const ttl = args.options["--ttl"];
      const record = await rs.overrides.set(id, patch, {
        ...notes,
        ...(ttl === undefined ? {} : { ttl }),
      });
      out(
        args.json ? JSON.stringify({ ok: true, override: record }, null, 2) : `set ${describeRecord(record)}`,
      );
      return 0;
    }
    case "unset": {
      const id = args.positional[0]!;
      const removed = await rs.overrides.unset(id, notes);
      if (args.json) out(JSON.stringify({ ok: true, removed }, null, 2));
      else out(removed ? `unset ${JSON.stringify(id)}` : `no override ${JSON.stringify(id)} to unset`);
      return 0;
    }
    case "list": {
      const records = await rs.overrides.list();
      if (args.json) out(JSON.stringify({ ok: true, store: config.store, overrides: records }, null, 2));
      else
        out(
          records.length === 0 ? "no overrides" : records.map((record) => describeRecord(record)).join("\n"),
        );
      return 0;
    }
    case "history": {
      const changes = await rs.overrides.history(config.history || 1);
      if (args.json) out(JSON.stringify({ ok: true, history: changes }, null, 2));
      else out(changes.length === 0 ? "no changes kept" : changes.map(describeChange).join("\n"));
      return 0;
    }
  }
}

function patchText(patch: OverridePatch): string {
  return Object.entries(patch)
    .map(([key, value]) => `${key}=${value === null ? "null" : String(value)}`)
    .join(" ");
}

/** One line: `"api:acme" rate=500/s, by alice at …, expires … (in 1h59m), reason "INC-42"`. */
export function describeRecord(record: OverrideRecord, now = Date.now()): string {
  const parts = [`${JSON.stringify(record.id)} ${patchText(record.patch)}`];
  parts.push(`${record.by === undefined ? "" : `by ${record.by} `}at ${new Date(record.at).toISOString()}`);
  parts.push(
    record.expiresAt === undefined
      ? "no expiry"
      : `expires ${new Date(record.expiresAt).toISOString()} (in ${span(record.expiresAt - now)})`,
  );
  if (record.reason !== undefined) parts.push(`reason ${JSON.stringify(record.reason)}`);
  return parts.join(", ");
}

function describeChange(change: OverrideChange): string {
  const what = change.record === undefined ? "" : ` ${patchText(change.record.patch)}`;
  const who = change.by === undefined ? "" : ` by ${change.by}`;
  const why = change.reason === undefined ? "" : ` reason ${JSON.stringify(change.reason)}`;
  return `#${change.version} ${new Date(change.at).toISOString()} ${change.action} ${JSON.stringify(change.id)}${what}${who}${why}`;
}

/** `1h59m`, `42s`. */
function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h${m}m`;
  if (m > 0) return `${m}m${s % 60}s`;
  return `${s}s`;
}

/** The override layer of a key, read from the store the config names (for `rate-sync explain`). */
export async function explainLayers(
  rs: RateSync,
  snapshot: ConfigSnapshot,
  key: string,
): Promise<{ explained: ExplainedKey; warning?: string }> {
  if (snapshot.overrides !== undefined) await rs.overrides.ready();
  const status = rs.overrides.status();
  const explained = rs.overrides.explain(key);
  return status.lastError === undefined
    ? { explained }
    : { explained, warning: `overrides could not be read from store "${status.store}": ${status.lastError}` };
}

/** The lines of `explain` that say where each value comes from. */
export function describeLayers(explained: ExplainedKey): string[] {
  const lines = ["  values, and the layer each comes from:"];
  const byId = new Map(explained.overrides.map((record) => [record.id, record]));
  for (const [key, value] of Object.entries(explained.effective)) {
    const source = explained.sources[key] ?? "file";
    let from: string = source;
    if (source.startsWith("override:")) {
      const record = byId.get(source.slice("override:".length));
      from = record === undefined ? source : `override ${describeRecord(record)}`;
    }
    lines.push(`    ${key} = ${JSON.stringify(value)}  ← ${from}`);
  }
  return lines;
}
