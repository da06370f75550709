/**
 * @module
 * Validates a whole (interpolated) document table by table with the zod schemas of `schema.ts`, then checks
 * the rules that span several keys or tables: which keys go with which algorithm, required keys, keys that
 * exclude each other, and store references. Every issue is collected; nothing stops at the first.
 *
 * Ids are read with `Object.keys` and kept in `Map`s, never used as keys of ordinary objects, so ids such as
 * `__proto__` or `constructor` are plain ids.
 */

import type { z } from "zod";
import { ALGORITHMS, DEFAULT_ALGORITHM, namesOfFamily, resolveAlgorithm } from "../algorithms/registry.ts";
import type { ConfigIssueCode } from "../errors.ts";
import { templateIdProblem } from "../limiters/templates.ts";
import { growingSteps } from "./block-steps.ts";
import { MAX_BLOCK_STEPS, MAX_DURATION_MS, MAX_DURATION_TEXT } from "./bounds.ts";
import { parseLimiterFields } from "./fast-limiters.ts";
import { indexSegment, MAX_LISTED_ISSUES, type PathIssue, quoteList } from "./issues.ts";
import { bucketShape } from "./normalize.ts";
import {
  ALGORITHM_NAMES,
  type AlgorithmName,
  allowNoLimitersSchema,
  type BlockGrowth,
  defaultsSchema,
  ENGINE_NAMES,
  fastapiSchema,
  issueCodeOf,
  LIMITER_KEYS,
  limiterSchema,
  listsSchema,
  overridesSchema,
  type ParsedDefaults,
  type ParsedLimiter,
  type ParsedLists,
  type ParsedOverrides,
  type ParsedRatePart,
  type ParsedStore,
  RATE_PART_KEYS,
  storeSchemas,
} from "./schema.ts";
import { runSync, STEP_SIZE, type Steps } from "./steps.ts";
import { closestName, didYouMean } from "./suggest.ts";
import { keysOf } from "./table-keys.ts";
import type { LimiterConfig, LimiterDefinition } from "./types.ts";

/** A document that passed validation, in file order. */
export interface ValidatedDocument {
  /** `allow_no_limiters = true` at the top of the file. */
  readonly allowNoLimiters: boolean;
  readonly defaults: ParsedDefaults;
  readonly stores: ReadonlyMap<string, ParsedStore>;
  readonly limiters: ReadonlyMap<string, ValidatedLimiter>;
  /** `[overrides]`, when present. */
  readonly overrides?: ParsedOverrides;
  /** `[lists]`, when the document has one. */
  readonly lists?: ParsedLists;
}

/** One limiter that passed validation. */
export interface ValidatedLimiter {
  /** The parsed table; left out when a {@link LimiterFinisher} made `config` from it. */
  readonly parsed?: ParsedLimiter;
  /** The normalized config, when a {@link LimiterFinisher} made it. */
  readonly config?: LimiterConfig;
  /** The user-facing definition: the table's own keys and values (after interpolation). */
  readonly definition: LimiterDefinition;
}

/**
 * What validation does with each limiter table that passed, given the document's defaults and stores: the
 * loader normalizes it at once, so that no parsed table waits for the last one to be checked (100k of them
 * were about 10 MB of the peak of a reload of 100k changed limiters). Called only while the document has no
 * issue.
 */
export type LimiterFinisher = (
  id: string,
  parsed: ParsedLimiter,
  defaults: ParsedDefaults,
  stores: ReadonlyMap<string, ParsedStore>,
) => LimiterConfig;

/** What the limiter rules need to know about stores. */
export interface StoreContext {
  /** Ids of the stores a limiter may name. */
  readonly storeIds: readonly string[];
  /** `defaults.store`, when set. */
  readonly defaultStore?: string | undefined;
}

type Table = Record<string, unknown>;

/** True for a TOML table or a plain object given in code. */
export function isTable(value: unknown): value is Table {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

/** Own keys whose value is not `undefined` (objects given in code may carry `key: undefined`). */
function presentKeys(table: Table): string[] {
  return Object.keys(table).filter((key) => table[key] !== undefined);
}

function has(table: Table, key: string): boolean {
  return Object.hasOwn(table, key) && table[key] !== undefined;
}

/** Converts zod issues into path issues under `base`, giving unknown keys a helpful message. */
function fromZod(
  error: z.ZodError,
  base: readonly string[],
  unknownKey: (key: string) => string,
): PathIssue[] {
  const issues: PathIssue[] = [];
  for (const issue of error.issues) {
    const path = [
      ...base,
      ...issue.path.map((key) => (typeof key === "number" ? indexSegment(key) : String(key))),
    ];
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys)
        issues.push({ code: "unknown_key", path: [...path, key], message: unknownKey(key) });
    } else {
      issues.push({ code: zodIssueCode(issue), path, message: issue.message });
    }
  }
  return issues;
}

/** The {@link ConfigIssueCode} of a zod issue other than an unknown key. */
function zodIssueCode(issue: z.core.$ZodIssue): ConfigIssueCode {
  switch (issue.code) {
    case "custom":
      return issueCodeOf(issue) ?? "invalid_value";
    case "invalid_type":
      return issue.input === undefined ? "missing_key" : "invalid_type";
    case "too_big":
    case "too_small":
      return "out_of_range";
    default:
      return "invalid_value";
  }
}

function checkId(kind: string, id: string, path: readonly string[]): PathIssue[] {
  if (id.trim() === "") return [{ code: "invalid_value", path, message: `a ${kind} id must not be empty` }];
  // A UTF-16 unit is at most 3 UTF-8 bytes: only long ids need measuring.
  if (id.length > 341 && Buffer.byteLength(id) > 1024)
    return [{ code: "out_of_range", path, message: `a ${kind} id must be at most 1024 bytes long` }];
  return [];
}

/** `unknown store "x"; known stores: main, db`. */
function unknownStoreMessage(name: string, storeIds: readonly string[]): string {
  return `unknown store ${JSON.stringify(name)}; known stores: ${storeIds.length > 0 ? storeIds.join(", ") : "(none)"}`;
}

/** The tables of a document, named in the message about an unknown top-level key. */
const DOCUMENT_TABLES = ["defaults", "stores", "limiters", "lists", "overrides"];
const DOCUMENT_KEYS = ["allow_no_limiters", ...DOCUMENT_TABLES];

/** What `validateDocument` found. */
export interface DocumentValidation {
  /** Present only when there are no issues. */
  readonly value?: ValidatedDocument;
  readonly issues: PathIssue[];
  /**
   * Limiter tables not checked: once {@link MAX_LISTED_ISSUES} issues are found, the remaining tables are
   * only counted (a ConfigError lists no more than that, and checking 250k broken tables took 20 s).
   */
  readonly unchecked: number;
}

// rate-sync (Python)'s `[fastapi]` is validated and otherwise ignored (see `fastapiSchema`); messages do not
// offer it, since it configures nothing here.
const COMPAT_DOCUMENT_KEYS = ["fastapi"];

/**
 * Validates a whole document (the TOML shape). `value` is present only when there are no issues.
 *
 * @param document - The parsed and interpolated TOML, or an object of the same shape given in code.
 */
export function validateDocument(document: unknown): DocumentValidation {
  return runSync(validateDocumentSteps(document));
}

/**
 * {@link validateDocument} as steps: it yields every {@link STEP_SIZE} limiter tables, so a reload can
 * validate a large file in slices.
 */
export function* validateDocumentSteps(
  document: unknown,
  finish?: LimiterFinisher,
): Steps<DocumentValidation> {
  // zod builds an Error (with a stack trace) per failed table; nothing here reads those stacks, and capturing
  // them was a third of the time to reject a file of thousands of broken limiters. Restored on the way out,
  // and around every yield (other code runs in between).
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const steps = validateTables(document, finish);
  try {
    for (;;) {
      const next = steps.next();
      if (next.done) return next.value;
      Error.stackTraceLimit = stackTraceLimit;
      yield;
      Error.stackTraceLimit = 0;
    }
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
}

function* validateTables(document: unknown, finish?: LimiterFinisher): Steps<DocumentValidation> {
  if (!isTable(document))
    return {
      issues: [{ code: "invalid_type", path: [], message: "expected a table of stores and limiters" }],
      unchecked: 0,
    };
  const { head, issues } = validateHead(document);
  const limiters = new Map<string, ValidatedLimiter>();
  let unchecked = 0;
  const rawLimiters = has(document, "limiters") ? document.limiters : undefined;
  if (rawLimiters !== undefined && !isTable(rawLimiters)) {
    issues.push({
      code: "invalid_type",
      path: ["limiters"],
      message: "expected a table of limiters ([limiters.<id>])",
    });
  } else if (rawLimiters !== undefined) {
    // Not `presentKeys`: the list of a large table is read as recorded (see `keysOf`), and filtered as it goes.
    unchecked = yield* validateLimiterTablesSteps(
      rawLimiters,
      keysOf(rawLimiters),
      head,
      limiters,
      issues,
      finish,
    );
  }
  return issues.length > 0
    ? { issues, unchecked }
    : { value: { ...head.value, limiters }, issues, unchecked };
}

/**
 * What a document says outside its limiter tables, validated: the whole document but its limiters, and what
 * each limiter table is checked and normalized against.
 */
export interface DocumentHead {
  /** The document without limiters. */
  readonly value: Omit<ValidatedDocument, "limiters">;
  /** The stores a limiter may name and `defaults.store` as written. */
  readonly context: StoreContext;
}

/**
 * Validates every part of a document but its limiter tables (`limiters` itself is not looked at), pushing
 * issues onto the list it returns. A load that receives the limiter tables in batches checks this part
 * first and each batch against its `head` (see {@link validateLimiterTablesSteps}).
 */
export function validateHead(document: Table): { head: DocumentHead; issues: PathIssue[] } {
  const issues: PathIssue[] = [];
  for (const key of presentKeys(document)) {
    if (!DOCUMENT_KEYS.includes(key) && !COMPAT_DOCUMENT_KEYS.includes(key)) {
      issues.push({
        code: "unknown_key",
        path: [key],
        message: `unknown key ${JSON.stringify(key)}${didYouMean(key, DOCUMENT_KEYS)} (expected ${quoteList(DOCUMENT_TABLES)})`,
      });
    }
  }

  let allowNoLimiters = false;
  if (has(document, "allow_no_limiters")) {
    const result = allowNoLimitersSchema.safeParse(document.allow_no_limiters);
    if (result.success) allowNoLimiters = result.data;
    else issues.push(...fromZod(result.error, ["allow_no_limiters"], (key) => `unknown key ${key}`));
  }

  // Stores first: limiters and defaults refer to them.
  const stores = new Map<string, ParsedStore>();
  const storeIds: string[] = [];
  const rawStores = has(document, "stores") ? document.stores : undefined;
  if (rawStores !== undefined && !isTable(rawStores)) {
    issues.push({
      code: "invalid_type",
      path: ["stores"],
      message: "expected a table of stores ([stores.<id>])",
    });
  } else if (rawStores !== undefined) {
    for (const id of presentKeys(rawStores)) {
      // Declared ids count as known even when their table has problems, so limiters naming them do not
      // get a second, misleading "unknown store" issue.
      storeIds.push(id);
      const result = validateStoreTable(["stores", id], rawStores[id]);
      issues.push(...result.issues);
      if (result.value !== undefined) stores.set(id, result.value);
    }
  }
  if (storeIds.length === 0) storeIds.push("memory"); // the implicit store (SPEC §2.3)

  let defaults: ParsedDefaults = {};
  const rawDefaults = has(document, "defaults") ? document.defaults : {};
  const defaultsResult = defaultsSchema.safeParse(rawDefaults);
  if (defaultsResult.success) {
    defaults = defaultsResult.data;
    if (defaults.store !== undefined && !storeIds.includes(defaults.store)) {
      issues.push({
        code: "unknown_store",
        path: ["defaults", "store"],
        message: unknownStoreMessage(defaults.store, storeIds),
      });
    }
  } else {
    issues.push(
      ...fromZod(defaultsResult.error, ["defaults"], (key) =>
        unknownKeyMessage(key, Object.keys(defaultsSchema.shape), "[defaults]"),
      ),
    );
  }
  // An invalid defaults.store must not also be blamed on every limiter that inherits it.
  const defaultStore =
    isTable(rawDefaults) && typeof rawDefaults.store === "string" ? rawDefaults.store : undefined;

  if (has(document, "fastapi")) {
    const fastapi = fastapiSchema.safeParse(document.fastapi);
    if (!fastapi.success) {
      issues.push(
        ...fromZod(fastapi.error, ["fastapi"], (key) =>
          unknownKeyMessage(key, Object.keys(fastapiSchema.shape), "[fastapi]"),
        ),
      );
    }
  }

  let overrides: ParsedOverrides | undefined;
  if (has(document, "overrides")) {
    const result = overridesSchema.safeParse(document.overrides);
    if (!result.success) {
      issues.push(
        ...fromZod(result.error, ["overrides"], (key) =>
          unknownKeyMessage(key, Object.keys(overridesSchema.shape), "[overrides]"),
        ),
      );
    } else if (!storeIds.includes(result.data.store)) {
      issues.push({
        code: "unknown_store",
        path: ["overrides", "store"],
        message: unknownStoreMessage(result.data.store, storeIds),
      });
    } else if (
      stores.get(result.data.store)?.engine === "redis" &&
      (stores.get(result.data.store) as { cluster?: boolean }).cluster === true
    ) {
      // Pub/sub and the version counter of overrides are written for one node; a cluster is not yet supported.
      issues.push({
        code: "invalid_value",
        path: ["overrides", "store"],
        message: `store ${JSON.stringify(result.data.store)} is a Redis Cluster, which cannot hold overrides yet: name a single-node Redis or a PostgreSQL store`,
      });
    } else if ((stores.get(result.data.store) as { client?: string } | undefined)?.client !== undefined) {
      // Overrides open connections of their own (a subscriber, a listener): an injected client cannot give them.
      issues.push({
        code: "invalid_value",
        path: ["overrides", "store"],
        message: `store ${JSON.stringify(result.data.store)} runs on an injected client (client = …), which cannot hold overrides: name a store with a url`,
      });
    } else overrides = result.data;
  }

  let lists: ParsedLists | undefined;
  if (has(document, "lists")) {
    const result = listsSchema.safeParse(document.lists);
    if (result.success) lists = result.data;
    else
      issues.push(
        ...fromZod(result.error, ["lists"], (key) =>
          unknownKeyMessage(key, Object.keys(listsSchema.shape), "[lists]"),
        ),
      );
  }

  return {
    head: {
      value: {
        allowNoLimiters,
        defaults,
        stores,
        ...(overrides === undefined ? {} : { overrides }),
        ...(lists === undefined ? {} : { lists }),
      },
      context: { storeIds, defaultStore },
    },
    issues,
  };
}

/**
 * Validates the limiter tables `ids` of `rawLimiters` against a document's head, adding each that passes to
 * `limiters` and its issues to `issues` (which may hold the head's already). Once `issues` holds
 * {@link MAX_LISTED_ISSUES}, the remaining tables are only counted; a table is finished (normalized) only while
 * `issues` is empty. Yields every {@link STEP_SIZE} tables.
 * @returns the number of tables left unchecked.
 */
export function* validateLimiterTablesSteps(
  rawLimiters: Table,
  ids: Iterable<string>,
  head: DocumentHead,
  limiters: Map<string, ValidatedLimiter>,
  issues: PathIssue[],
  finish?: LimiterFinisher,
): Steps<number> {
  const { defaults, stores } = head.value;
  let unchecked = 0;
  let done = 0;
  for (const id of ids) {
    if (++done % STEP_SIZE === 0) yield;
    if (rawLimiters[id] === undefined) continue;
    if (issues.length >= MAX_LISTED_ISSUES) {
      unchecked++;
      continue;
    }
    const result = validateLimiterTable(["limiters", id], rawLimiters[id], head.context);
    issues.push(...result.issues);
    const value = result.value;
    if (value === undefined) continue;
    limiters.set(
      id,
      finish === undefined || issues.length > 0
        ? value
        : { config: finish(id, value.parsed!, defaults, stores), definition: value.definition },
    );
  }
  return unchecked;
}

function unknownKeyMessage(key: string, known: readonly string[], where: string): string {
  return `unknown key ${JSON.stringify(key)} in ${where}${didYouMean(key, known)}`;
}

const ENGINE_KEYS: Readonly<Record<(typeof ENGINE_NAMES)[number], readonly string[]>> = {
  memory: Object.keys(storeSchemas.memory.shape),
  redis: Object.keys(storeSchemas.redis.shape),
  postgres: Object.keys(storeSchemas.postgres.shape),
  sqlite: Object.keys(storeSchemas.sqlite.shape),
};

/** Validates one `[stores.<id>]` table. */
export function validateStoreTable(
  path: readonly string[],
  raw: unknown,
): { value?: ParsedStore; issues: PathIssue[] } {
  const idIssues = checkId("store", path.at(-1) ?? "", path);
  if (idIssues.length > 0) return { issues: idIssues };
  if (!isTable(raw)) return { issues: [{ code: "invalid_type", path, message: "expected a table" }] };
  if (!has(raw, "engine")) {
    // Without an engine the table's other keys cannot be checked; a misspelled "engine" is the likely cause,
    // so it is named where it was written.
    const typo = presentKeys(raw).find((key) => closestName(key, ["engine"]) === "engine");
    if (typo !== undefined) {
      return {
        issues: [
          {
            code: "unknown_key",
            path: [...path, typo],
            message: `unknown key ${JSON.stringify(typo)} in a store; did you mean "engine"? (expected ${quoteList(ENGINE_NAMES)})`,
          },
        ],
      };
    }
    return {
      issues: [
        { code: "missing_key", path, message: `missing "engine" (expected ${quoteList(ENGINE_NAMES)})` },
      ],
    };
  }
  const engine = ENGINE_NAMES.find((name) => name === raw.engine);
  if (engine === undefined) {
    const written = raw.engine;
    const message =
      typeof written === "string"
        ? `unknown engine ${JSON.stringify(written)}${didYouMean(written, ENGINE_NAMES)} (expected ${quoteList(ENGINE_NAMES)})`
        : `expected a string (${quoteList(ENGINE_NAMES)})`;
    return {
      issues: [
        {
          code: typeof written === "string" ? "invalid_value" : "invalid_type",
          path: [...path, "engine"],
          message,
        },
      ],
    };
  }

  const result = storeSchemas[engine].safeParse(raw);
  if (!result.success) {
    const unknownKey = (key: string): string => {
      const owners = ENGINE_NAMES.filter((other) => other !== engine && ENGINE_KEYS[other].includes(key));
      return owners.length > 0
        ? `${JSON.stringify(key)} is not a key of a ${engine} store (it applies to ${owners.join(" and ")} stores)`
        : unknownKeyMessage(key, ENGINE_KEYS[engine], `a ${engine} store`);
    };
    return { issues: fromZod(result.error, path, unknownKey) };
  }

  const store = result.data;
  const issues: PathIssue[] = connectionIssues(store, path);
  if (store.engine === "redis" && Array.isArray(store.url) && store.cluster !== true) {
    issues.push({ code: "conflict", path: [...path, "url"], message: "a list of URLs needs cluster = true" });
  }
  if ((store.engine === "redis" || store.engine === "postgres") && store.pool_min_size !== undefined) {
    const max = store.pool_max_size ?? 10;
    if (store.pool_min_size > max) {
      issues.push({
        code: "conflict",
        path: [...path, "pool_min_size"],
        message: `must not exceed pool_max_size (${max}), got ${store.pool_min_size}`,
      });
    }
  }
  return issues.length > 0 ? { issues } : { value: store, issues };
}

/** Keys that configure a connection the store opens itself: meaningless when it runs on a client given in code. */
const CONNECTION_KEYS = {
  redis: [
    "url",
    "sentinels",
    "name",
    "sentinel_password",
    "tls",
    "cluster",
    "db",
    "password",
    "pool_max_size",
    "pool_min_size",
    "socket_timeout",
    "socket_connect_timeout",
  ],
  postgres: ["url", "pool_max_size", "pool_min_size", "socket_timeout", "socket_connect_timeout"],
} as const;

/**
 * How a remote store connects: exactly one of `url`, `sentinels` (with `name`) or `client`; a client given in
 * code brings its own connection settings, so the keys that would configure one are refused beside it.
 */
function connectionIssues(store: ParsedStore, path: readonly string[]): PathIssue[] {
  if (store.engine === "memory" || store.engine === "sqlite") return [];
  const table = store as Record<string, unknown>;
  const issues: PathIssue[] = [];
  if (store.client !== undefined) {
    for (const key of CONNECTION_KEYS[store.engine]) {
      if (table[key] === undefined) continue;
      issues.push({
        code: "conflict",
        path: [...path, key],
        message: `${JSON.stringify(key)} cannot be used with client: the client given in code brings its own connection settings`,
      });
    }
    return issues;
  }
  if (store.engine === "postgres") {
    if (store.url === undefined) issues.push(missingConnection(path, '"url" (or "client")'));
    return issues;
  }
  if (typeof store.tls === "object" && (store.tls.cert === undefined) !== (store.tls.key === undefined)) {
    issues.push({
      code: "conflict",
      path: [...path, "tls"],
      message: "cert and key go together: a client certificate needs its private key (give both, or neither)",
    });
  }
  if (store.sentinels !== undefined) {
    if (store.name === undefined)
      issues.push({
        code: "missing_key",
        path,
        message: 'missing "name": sentinels need the name of the master group (as in sentinel.conf)',
      });
    for (const key of ["url", "cluster"] as const) {
      if (store[key] !== undefined)
        issues.push({
          code: "conflict",
          path: [...path, key],
          message: `${JSON.stringify(key)} cannot be used with sentinels: the Sentinels name the master (give password and db as keys)`,
        });
    }
    return issues;
  }
  for (const key of ["name", "sentinel_password"] as const) {
    if (store[key] !== undefined)
      issues.push({
        code: "conflict",
        path: [...path, key],
        message: `${JSON.stringify(key)} needs sentinels`,
      });
  }
  if (store.url === undefined)
    issues.push(missingConnection(path, '"url" (or "sentinels" with "name", or "client")'));
  return issues;
}

function missingConnection(path: readonly string[], what: string): PathIssue {
  return { code: "missing_key", path, message: `missing ${what}` };
}

const BUCKET_ALGORITHMS: readonly AlgorithmName[] = namesOfFamily("bucket", true);
const WINDOW_ALGORITHMS: readonly AlgorithmName[] = namesOfFamily("window", false);
const BUCKET_KEYS = ["rate", "rate_per_second", "burst"];
const WINDOW_KEYS = ["limit", "window", "window_seconds"];
const ADAPTIVE_KEYS = [
  "burst_multiplier",
  "adaptive_window",
  "high_load_threshold",
  "low_load_threshold",
  "penalty",
];
// Built once, not per limiter table (closures and arrays made per table were a visible part of loading 100k).
const RATE_KEYS = [...BUCKET_KEYS, ...WINDOW_KEYS];
const BUCKET_ALGORITHMS_BUT_GCRA = namesOfFamily("bucket", false);
const unknownLimiterKey = (key: string): string => unknownKeyMessage(key, LIMITER_KEYS, "a limiter");

/** `path` and then `key`: where an issue about one key of a table is reported. */
function at(path: readonly string[], key: string): string[] {
  return [...path, key];
}

/** True when `table` has one of `keys`. */
function hasAny(table: Table, keys: readonly string[]): boolean {
  for (const key of keys) if (has(table, key)) return true;
  return false;
}

/**
 * The rules between the block keys: `block` or `block_escalation` (not both), `block_memory` only with
 * `block_escalation`, and a block only on a limiter with a rate limit (it is started by a rate denial).
 */
function blockIssues(path: readonly string[], raw: Table, parsed: ParsedLimiter | undefined): PathIssue[] {
  const issues: PathIssue[] = [];
  const block = has(raw, "block");
  const escalation = has(raw, "block_escalation");
  const growing = escalation && isTable(raw.block_escalation);
  if (block && escalation && !growing) {
    issues.push({
      code: "conflict",
      path: at(path, "block_escalation"),
      message: `"block_escalation" conflicts with "block": write a fixed block as block, or every step in block_escalation (or block with block_escalation = { factor, max })`,
    });
  }
  if (growing && !block) {
    issues.push({
      code: "missing_key",
      path: at(path, "block"),
      message: `block_escalation = { factor, max } needs "block", the first block's length`,
    });
  }
  const growth = parsed?.block_escalation;
  if (growing && parsed?.block !== undefined && growth !== undefined && !Array.isArray(growth)) {
    const { maxMs } = growth as BlockGrowth;
    if (maxMs <= parsed.block) {
      issues.push({
        code: "conflict",
        path: at(path, "block_escalation"),
        message: `max (${maxMs} ms) must be longer than block (${parsed.block} ms)`,
      });
    } else if (growingSteps(parsed.block, growth as BlockGrowth, MAX_BLOCK_STEPS).length > MAX_BLOCK_STEPS) {
      issues.push({
        code: "out_of_range",
        path: at(path, "block_escalation"),
        message: `from block to max by this factor takes more than ${MAX_BLOCK_STEPS} steps; raise the factor or list the steps`,
      });
    }
  }
  if (has(raw, "block_memory") && !escalation) {
    issues.push({
      code: "conflict",
      path: at(path, "block_memory"),
      message: `"block_memory" applies only together with "block_escalation"`,
    });
  }
  if ((block || escalation) && !has(raw, "limits") && !hasAny(raw, RATE_KEYS)) {
    issues.push({
      code: "conflict",
      path: at(path, block ? "block" : "block_escalation"),
      message: "a block needs a rate limit (it starts when the rate limit denies); this limiter has none",
    });
  }
  return issues;
}

/**
 * Validates one `[limiters.<id>]` table: its fields, the rules between them, and its store reference.
 *
 * @param path - `["limiters", id]`: where issues are reported.
 */
export function validateLimiterTable(
  path: readonly string[],
  raw: unknown,
  context: StoreContext,
): { value?: ValidatedLimiter; issues: PathIssue[] } {
  const id = path.at(-1) ?? "";
  const idIssues = checkId("limiter", id, path);
  const templateProblem = templateIdProblem(id);
  if (templateProblem !== undefined) idIssues.push({ code: "invalid_value", path, message: templateProblem });
  if (idIssues.length > 0) return { issues: idIssues };
  if (!isTable(raw))
    return { issues: [{ code: "invalid_type", path, message: "expected a table of limiter settings" }] };
  const issues: PathIssue[] = [];

  // Tables without issues skip zod's object parse (same checks, same output); zod words every issue.
  const result = parseLimiterFields(raw) ?? limiterSchema.safeParse(raw);
  if (!result.success) issues.push(...fromZod(result.error, path, unknownLimiterKey));

  // The rules below read the raw table, so they are reported even when a field above failed.
  if (has(raw, "limits")) {
    for (const key of RATE_PART_KEYS) {
      if (!has(raw, key)) continue;
      issues.push({
        code: "conflict",
        path: at(path, key),
        message: `"${key}" conflicts with "limits": with "limits", write every rate limit in it`,
      });
    }
    if (Array.isArray(raw.limits)) {
      const names = new Set<string>();
      raw.limits.forEach((item: unknown, i) => {
        const itemPath = [...path, "limits", indexSegment(i)];
        if (!isTable(item)) return; // zod has said what it expected
        const parsedItem = result.success ? result.data.limits?.[i] : undefined;
        issues.push(...ratePartIssues(itemPath, item, false, "a limit", parsedItem));
        if (typeof item.name === "string") {
          if (names.has(item.name)) {
            issues.push({
              code: "conflict",
              path: at(itemPath, "name"),
              message: `two limits are named ${JSON.stringify(item.name)}; each needs its own name`,
            });
          }
          names.add(item.name);
        }
      });
    }
  } else {
    const parsed = result.success ? result.data : undefined;
    issues.push(...ratePartIssues(path, raw, has(raw, "max_concurrent"), "a limiter", parsed));
  }

  issues.push(...blockIssues(path, raw, result.success ? result.data : undefined));

  if (has(raw, "lease") && !has(raw, "max_concurrent")) {
    issues.push({
      code: "conflict",
      path: at(path, "lease"),
      message: `"lease" applies only together with "max_concurrent"`,
    });
  }

  const failClosed = raw.fail_closed === true || raw.fail_closed === "true";
  const failOpen = raw.fail_closed === false || raw.fail_closed === "false";
  const onStoreError = raw.on_store_error;
  if (
    (failClosed && has(raw, "on_store_error") && onStoreError !== "deny") ||
    (failOpen && onStoreError === "deny")
  ) {
    issues.push({
      code: "conflict",
      path: at(path, "fail_closed"),
      message: `fail_closed = ${failClosed} contradicts on_store_error = ${JSON.stringify(onStoreError)}; keep only one of them`,
    });
  }

  if (typeof raw.store === "string" && raw.store !== "" && !context.storeIds.includes(raw.store)) {
    issues.push({
      code: "unknown_store",
      path: at(path, "store"),
      message: unknownStoreMessage(raw.store, context.storeIds),
    });
  } else if (!has(raw, "store") && context.defaultStore === undefined && context.storeIds.length > 1) {
    issues.push({
      code: "missing_key",
      path,
      message: `several stores are declared (${context.storeIds.join(", ")}) and neither this limiter nor [defaults] names one; set "store"`,
    });
  }

  if (result.success) {
    const limits = result.data.limits;
    if (limits === undefined) issues.push(...refillIssues(path, raw, result.data));
    else {
      limits.forEach((limit, i) => {
        const item = (raw.limits as unknown[])[i] as Table;
        issues.push(...refillIssues([...path, "limits", indexSegment(i)], item, limit));
      });
    }
  }

  if (issues.length > 0 || !result.success) return { issues };
  return { value: { parsed: result.data, definition: definitionOf(raw) }, issues };
}

/**
 * The rules of a rate part (the top of a limiter table, or one item of its `limits`): which keys go with which
 * algorithm, and the keys it needs. `optional`: the table may have no rate part (it has `max_concurrent`).
 */
function ratePartIssues(
  path: readonly string[],
  raw: Table,
  optional: boolean,
  what: string,
  parsed: ParsedRatePart | undefined,
): PathIssue[] {
  const issues: PathIssue[] = [];
  const explicitAlgorithm = has(raw, "algorithm")
    ? ALGORITHM_NAMES.find((name) => name === raw.algorithm)
    : undefined;
  const algorithmIsValid = !has(raw, "algorithm") || explicitAlgorithm !== undefined;
  const algorithm: AlgorithmName = explicitAlgorithm ?? DEFAULT_ALGORITHM;
  const algorithmLabel = explicitAlgorithm === undefined ? `"${algorithm}" (the default)` : `"${algorithm}"`;

  if (has(raw, "rate") && has(raw, "rate_per_second")) {
    issues.push({
      code: "conflict",
      path: at(path, "rate_per_second"),
      message: `set either "rate" or "rate_per_second", not both`,
    });
  }
  if (has(raw, "window") && has(raw, "window_seconds")) {
    issues.push({
      code: "conflict",
      path: at(path, "window_seconds"),
      message: `set either "window" or "window_seconds", not both`,
    });
  }
  if (!algorithmIsValid) return issues;

  const hasRatePart = explicitAlgorithm !== undefined || hasAny(raw, RATE_KEYS);
  const isBucket = ALGORITHMS[resolveAlgorithm(algorithm)].family === "bucket";
  const foreignKeys = isBucket ? WINDOW_KEYS : BUCKET_KEYS;
  const foreignAlgorithms = isBucket ? WINDOW_ALGORITHMS : BUCKET_ALGORITHMS_BUT_GCRA;
  const misplaced = hasAny(raw, foreignKeys) ? foreignKeys.filter((key) => has(raw, key)) : [];
  if (ALGORITHMS[resolveAlgorithm(algorithm)].family !== "adaptive") {
    for (const key of ADAPTIVE_KEYS) {
      if (!has(raw, key)) continue;
      issues.push({
        code: "conflict",
        path: at(path, key),
        message: `"${key}" does not apply to algorithm ${algorithmLabel}; it belongs to adaptive`,
      });
    }
  } else if (parsed !== undefined) {
    // Checked on the parsed values (their fields passed), with the defaults of the ones left out.
    const low = parsed.low_load_threshold ?? 0.4;
    const high = parsed.high_load_threshold ?? 0.8;
    if (low >= high) {
      issues.push({
        code: "conflict",
        path: at(path, has(raw, "low_load_threshold") ? "low_load_threshold" : "high_load_threshold"),
        message: `low_load_threshold (${low}) must be below high_load_threshold (${high})`,
      });
    }
  }
  for (const key of misplaced) {
    const hint = explicitAlgorithm === undefined ? `; set "algorithm" to use it` : "";
    issues.push({
      code: "conflict",
      path: at(path, key),
      message: `"${key}" does not apply to algorithm ${algorithmLabel}; it belongs to ${foreignAlgorithms.join(", ")}${hint}`,
    });
  }
  if (!hasRatePart && !optional) {
    issues.push({
      code: "missing_key",
      path,
      message:
        what === "a limiter"
          ? `a limiter needs "rate" (or "rate_per_second"), "limit" with "window" (and an algorithm), or "max_concurrent"`
          : `${what} needs "rate" (or "rate_per_second"), or "limit" with "window" (and an algorithm)`,
    });
  } else if (hasRatePart && isBucket) {
    // With the default algorithm and only window keys, the misplaced-key issue already says what to do.
    const meantWindow = explicitAlgorithm === undefined && misplaced.length > 0;
    if (!has(raw, "rate") && !has(raw, "rate_per_second") && !meantWindow) {
      issues.push({
        code: "missing_key",
        path,
        message: `missing "rate" (or "rate_per_second"): a ${algorithm} limiter needs a rate`,
      });
    }
  } else if (hasRatePart) {
    if (!has(raw, "limit")) {
      issues.push({
        code: "missing_key",
        path,
        message: `missing "limit": a ${algorithm} limiter needs "limit" and "window"`,
      });
    }
    if (!has(raw, "window") && !has(raw, "window_seconds")) {
      issues.push({
        code: "missing_key",
        path,
        message: `missing "window" (or "window_seconds"): a ${algorithm} limiter needs "limit" and "window"`,
      });
    }
  }
  return issues;
}

/**
 * A bucket must refill within the longest duration (`burst × interval` is how far ahead of now its state can
 * reach, so it becomes the state's TTL): checked on the interval and burst the stores will get. Reported on
 * `burst` when it is written, else on the rate whose count gave the default burst.
 */
function refillIssues(path: readonly string[], raw: Table, parsed: ParsedRatePart): PathIssue[] {
  const algorithm = parsed.algorithm ?? DEFAULT_ALGORITHM;
  if (!BUCKET_ALGORITHMS.includes(algorithm)) return [];
  const shape = bucketShape(parsed);
  if (shape === undefined) return [];
  const refillMs = shape.burst * shape.intervalMs;
  if (refillMs <= MAX_DURATION_MS) return [];
  const key = has(raw, "burst") ? "burst" : has(raw, "rate") ? "rate" : "rate_per_second";
  const days = refillMs / 86_400_000;
  const takes = Number.isFinite(days) ? `${Number(days.toPrecision(4))} days` : "forever";
  return [
    {
      code: "out_of_range",
      path: [...path, key],
      message: `the bucket takes ${takes} to refill (burst ${shape.burst} at this rate); burst / rate must be at most ${MAX_DURATION_TEXT}`,
    },
  ];
}

/**
 * The user-facing definition: the table's own keys (all of them known, validation passed) copied into a plain,
 * frozen object. Only keys from the schema are copied, so nothing can reach `Object.prototype`.
 */
function definitionOf(raw: Table): LimiterDefinition {
  const definition: Record<string, unknown> = {};
  for (const key of LIMITER_KEYS) if (has(raw, key)) definition[key] = raw[key];
  // Validated above: every key is a LimiterDefinition key and every value has one of its types.
  return Object.freeze(definition) as LimiterDefinition;
}
