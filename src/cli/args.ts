/**
 * @module
 * The CLI's argument parsing: a command, its positional arguments and its options, checked strictly. A
 * mistyped option is never taken for a file name and extra arguments are never ignored: both are usage errors
 * (exit 2) naming what was wrong, with the closest valid option or command.
 */

import { didYouMean } from "../config/suggest.ts";

/** A mistake in how the command was called (exit code 2). */
export class UsageError extends Error {}

/** What one command accepts. */
interface CommandSpec {
  /** Positional arguments in order; those in brackets are optional. */
  readonly args: readonly string[];
  /** Whether `--json` applies. */
  readonly json: boolean;
  /** Whether `--dry-run` applies. */
  readonly dryRun?: boolean;
  /** Whether `--yes` (the confirmation of a command that deletes state) applies. */
  readonly confirms?: boolean;
}

/** Every command and what it accepts. */
export const COMMANDS: Readonly<Record<string, CommandSpec>> = {
  check: { args: ["[file]"], json: true },
  explain: { args: ["<key>", "[file]"], json: true },
  inspect: { args: ["<key>", "[file]"], json: true },
  clear: { args: ["<id>", "[file]"], json: true, confirms: true },
  sql: { args: ["[file]"], json: false },
  top: { args: ["<snapshot>", "[limiter]"], json: true },
  migrate: { args: ["[file]"], json: false, dryRun: true },
  schema: { args: [], json: false },
};

const OPTIONS = ["--json", "--dry-run", "--yes", "--help", "-h", "--version", "-v"];

/** A parsed command line. */
export type ParsedArgs =
  | { readonly kind: "help" }
  | { readonly kind: "version" }
  | {
      readonly kind: "command";
      readonly command: string;
      /** The positional arguments, as many as the command takes at most (missing optional ones absent). */
      readonly args: readonly string[];
      readonly json: boolean;
      /** `--dry-run` (migrate): print what would run, run nothing. */
      readonly dryRun: boolean;
      /** `--yes`: the user confirmed a command that deletes state. */
      readonly yes: boolean;
    };

/** `rate-sync explain <key> [file] [--json]`. */
export function commandUsage(command: string): string {
  const spec = COMMANDS[command];
  if (spec === undefined) return "rate-sync <command>";
  return [
    "rate-sync",
    command,
    ...spec.args,
    ...(spec.confirms ? ["--yes"] : []),
    ...(spec.json ? ["[--json]"] : []),
    ...(spec.dryRun ? ["[--dry-run]"] : []),
  ].join(" ");
}

/**
 * Parses the arguments after `rate-sync`. Options may come anywhere; `--` ends them, so a key or a file name
 * that starts with `-` can still be given (`rate-sync explain -- -weird-key`).
 *
 * @throws {UsageError} for an unknown command or option, a missing key, too many arguments, `--json` on a
 *   command that does not print JSON, or `--yes` on a command that deletes nothing.
 */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const positional: string[] = [];
  let json = false;
  let dryRun = false;
  let yes = false;
  let help = false;
  let version = false;
  let optionsEnded = false;
  for (const arg of argv) {
    if (optionsEnded || arg === "-" || !arg.startsWith("-")) {
      positional.push(arg);
    } else if (arg === "--") {
      optionsEnded = true;
    } else if (arg === "--json") {
      json = true;
    } else if (arg === "--dry-run") {
      dryRun = true;
    } else if (arg === "--yes") {
      yes = true;
    } else if (arg === "--help" || arg === "-h") {
      help = true;
    } else if (arg === "--version" || arg === "-v") {
      version = true;
    } else {
      const name = arg.split("=")[0] ?? arg;
      const hint =
        name !== arg && OPTIONS.includes(name) ? `; ${name} takes no value` : didYouMean(name, OPTIONS);
      throw new UsageError(`unknown option ${JSON.stringify(arg)}${hint}`);
    }
  }
  if (version) return { kind: "version" };
  const [command, ...args] = positional;
  if (help || command === undefined || command === "help") return { kind: "help" };
  const spec = COMMANDS[command];
  if (spec === undefined) {
    throw new UsageError(
      `unknown command ${JSON.stringify(command)}${didYouMean(command, Object.keys(COMMANDS))}`,
    );
  }
  const required = spec.args.filter((name) => name.startsWith("<"));
  if (args.length < required.length) {
    throw new UsageError(
      `${command} needs ${required.slice(args.length).join(" ")} (usage: ${commandUsage(command)})`,
    );
  }
  if (args.length > spec.args.length) {
    const extra = args.slice(spec.args.length).map((arg) => JSON.stringify(arg));
    throw new UsageError(
      `too many arguments for ${command}: ${extra.join(", ")} (usage: ${commandUsage(command)})`,
    );
  }
  if (json && !spec.json)
    throw new UsageError(`${command} does not take --json (usage: ${commandUsage(command)})`);
  if (dryRun && spec.dryRun !== true)
    throw new UsageError(`${command} does not take --dry-run (usage: ${commandUsage(command)})`);
  if (yes && !spec.confirms)
    throw new UsageError(`${command} does not take --yes (usage: ${commandUsage(command)})`);
  return { kind: "command", command, args, json, dryRun, yes };
}
