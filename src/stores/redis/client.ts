/**
 * @module
 * Loads ioredis on first use (it is an optional peer dependency) and opens the store's one connection — a
 * single client or a Cluster client — with the scripts defined on it. ioredis runs defined commands with
 * EVALSHA and falls back to EVAL (which also loads the script) only on `NOSCRIPT`.
 */

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import type { RedisStoreConfig } from "../../config/types.ts";
import { StoreError, StoreUnavailableError } from "../../errors.ts";
import { encodeBatch, type ScriptCall } from "./codec.ts";
import {
  BATCH_DECIDE_SCRIPT,
  LEAN_DECIDE_SCRIPTS,
  type LeanKindCode,
  PEEK_SCRIPT,
  REFUND_SCRIPT,
  RENEW_SCRIPT,
} from "./lua.ts";

/** The ioredis module, as `import("ioredis")` yields it. */
export type IoRedisModule = typeof import("ioredis");

/** A script command: `(numberOfKeys, ...keys, ...args)`. */
type ScriptCommand = (numberOfKeys: number, ...keysAndArgs: string[]) => Promise<unknown>;

/** What the store needs from a client; both `Redis` and `Cluster` provide it. */
export interface RedisConnection {
  /** Runs the batch decide script over encoded calls (which share a slot); resolves with its raw reply. */
  decideBatch(calls: readonly ScriptCall[]): Promise<unknown>;
  /** Runs the lean decide script of one rate algorithm on one state key. */
  decideOne(kind: LeanKindCode, key: string, args: readonly string[]): Promise<unknown>;
  /** Runs the peek script. */
  peek(keys: readonly string[], args: readonly string[]): Promise<unknown>;
  /** Runs the refund script. */
  refund(keys: readonly string[], args: readonly string[]): Promise<unknown>;
  /** Runs the renew script. */
  renew(key: string, leaseId: string, leaseMs: number): Promise<unknown>;
  /** `DEL` of keys that share one slot. */
  del(keys: readonly string[]): Promise<unknown>;
  /**
   * The servers whose keys a `SCAN` must walk: the client itself, or every master of a Cluster (known once it
   * is connected: resolves after the Cluster is ready).
   */
  scanNodes(): Promise<readonly ScanNode[]>;
  /** Closes after replies in flight; falls back to a hard disconnect. */
  close(): Promise<void>;
}

/** One server's keyspace, for `clear`. */
export interface ScanNode {
  /** `SCAN cursor MATCH pattern COUNT count`: the next cursor (`"0"` when done) and a page of names. */
  scan(cursor: string, pattern: string, count: number): Promise<readonly [string, readonly string[]]>;
  /**
   * One `UNLINK` per group (the names of a group share one hash slot), sent as one pipeline to this server;
   * resolves with how many names each removed.
   */
  unlinkEach(groups: readonly (readonly string[])[]): Promise<number[]>;
}

/** The commands of one ioredis server connection that {@link ScanNode} uses. */
interface ScanCommands {
  scan(
    cursor: string,
    match: "MATCH",
    pattern: string,
    countWord: "COUNT",
    count: number,
  ): Promise<[string, string[]]>;
  pipeline(): { unlink(...keys: string[]): unknown; exec(): Promise<[Error | null, unknown][] | null> };
}

/** A {@link ScanNode} on one server connection; `busy` keeps the process alive while it waits for a reply. */
function scanNode(server: ScanCommands, busy: <T>(command: Promise<T>) => Promise<T>): ScanNode {
  return {
    scan: async (cursor, pattern, count) => {
      const [next, names] = await busy(server.scan(cursor, "MATCH", pattern, "COUNT", count));
      return [next, names];
    },
    unlinkEach: async (groups) => {
      const pipeline = server.pipeline();
      for (const group of groups) pipeline.unlink(...group);
      const replies = (await busy(pipeline.exec())) ?? [];
      return replies.map(([error, removed]) => {
        if (error) throw error;
        return Number(removed);
      });
    },
  };
}

/** The command of each lean decide script: `rateSyncDecide` + its kind code (`tb` → `rateSyncDecideTb`). */
const LEAN_COMMANDS = Object.fromEntries(
  Object.keys(LEAN_DECIDE_SCRIPTS).map((kind) => [
    kind,
    `rateSyncDecide${kind[0]?.toUpperCase()}${kind.slice(1)}`,
  ]),
) as Readonly<Record<LeanKindCode, LeanCommand>>;

/** The name of a lean decide script's command. */
type LeanCommand = `rateSyncDecide${Capitalize<LeanKindCode>}`;

/** The name of any script command. */
type ScriptName = "rateSyncDecideBatch" | "rateSyncPeek" | "rateSyncRefund" | "rateSyncRenew" | LeanCommand;

/** Script commands defined on every connection (names are private to this module). */
const SCRIPTS = {
  rateSyncDecideBatch: BATCH_DECIDE_SCRIPT,
  rateSyncPeek: PEEK_SCRIPT,
  rateSyncRefund: REFUND_SCRIPT,
  rateSyncRenew: RENEW_SCRIPT,
  ...Object.fromEntries(
    Object.entries(LEAN_DECIDE_SCRIPTS).map(([kind, lua]) => [LEAN_COMMANDS[kind as LeanKindCode], lua]),
  ),
} as Readonly<Record<ScriptName, string>>;

/**
 * Imports ioredis, or rejects with {@link StoreUnavailableError} when it is not installed.
 *
 * @param importDriver How to import it (tests replace it to simulate a missing package).
 */
export async function loadIoRedis(
  storeId: string,
  importDriver: () => Promise<IoRedisModule> = () => import("ioredis"),
): Promise<IoRedisModule> {
  try {
    return await importDriver();
  } catch (error) {
    throw new StoreUnavailableError(storeId, "ioredis", { cause: error });
  }
}

/** What an idle connection may hold the event loop with: the socket, or the timer of the next reconnect. */
interface Handles {
  readonly stream?: { ref?(): unknown; unref?(): unknown } | null;
  readonly reconnectTimeout?: { ref?(): unknown; unref?(): unknown } | null;
}

/**
 * Lets an idle connection never keep the process alive, while a command in flight still does. ioredis has no
 * unref option, so the client's socket (and its reconnect timer) is ref'd while commands are in flight and
 * unref'd otherwise: a script that is done exits, even without `close()` and even while an unreachable server
 * is retried, and no reply is lost to an exit. Returns the wrapper every command goes through. A Cluster
 * client's node connections are not reached: there only `close()` lets the process exit.
 *
 * The socket a connection attempt opens is ref'd until it connects or fails (at most the connect timeout).
 */
export function holdOpenWhileBusy(
  client: NodeJS.EventEmitter & Handles,
): <T>(command: Promise<T>) => Promise<T> {
  let inFlight = 0;
  const sync = (): void => {
    const busy = inFlight > 0;
    const stream = client.stream;
    const timer = client.reconnectTimeout;
    if (busy) {
      stream?.ref?.();
      timer?.ref?.();
    } else {
      stream?.unref?.();
      timer?.unref?.();
    }
  };
  // ioredis emits status events on the next tick, when the new socket or the reconnect timer is in place.
  for (const event of ["connect", "ready", "close", "reconnecting"]) client.on(event, sync);
  const settled = (): void => {
    if (--inFlight === 0) sync();
  };
  return (command) => {
    if (++inFlight === 1) sync();
    command.then(settled, settled);
    return command;
  };
}

/** Host and port of each node URL (cluster mode), with defaults of `redis://`. */
function clusterNodes(urls: readonly string[]): { host: string; port: number }[] {
  return urls.map((url) => {
    const parsed = new URL(url);
    return { host: parsed.hostname || "127.0.0.1", port: parsed.port ? Number(parsed.port) : 6379 };
  });
}

/** Credentials given in the first URL, used for every cluster node unless the config names a password. */
function urlCredentials(url: string): { username?: string; password?: string } {
  const parsed = new URL(url);
  const out: { username?: string; password?: string } = {};
  if (parsed.username) out.username = decodeURIComponent(parsed.username);
  if (parsed.password) out.password = decodeURIComponent(parsed.password);
  return out;
}

/**
 * An ioredis `Redis` or `Cluster` instance the application made and hands over (`RateSyncOptions.clients`):
 * the few members a store uses. The application owns it: the store never quits it, never adds listeners to it
 * and never refs or unrefs its sockets.
 */
export interface RedisClientLike {
  /** ioredis sets it: `true` on a `Cluster`, `false` on a `Redis`. */
  readonly isCluster?: boolean;
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number }): void;
  del(...keys: string[]): Promise<number>;
  zrem(key: string, ...members: string[]): Promise<number>;
}

/** True when `value` looks like an ioredis `Redis` or `Cluster` instance. */
export function isRedisClient(value: unknown): value is RedisClientLike {
  const client = value as Partial<Record<string, unknown>> | null;
  return (
    typeof client === "object" &&
    client !== null &&
    typeof client.defineCommand === "function" &&
    typeof client.del === "function" &&
    typeof client.zrem === "function" &&
    typeof client.isCluster === "boolean"
  );
}

/** A `tls` file read for the connection; a missing or unreadable file is a `StoreError` naming it. */
function readTlsFile(storeId: string, key: string, path: string | undefined): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new StoreError(storeId, `cannot read tls.${key} ${JSON.stringify(path)} (${why})`, {
      cause: error,
    });
  }
}

/**
 * The `tls` option of ioredis for the store, or undefined when TLS is off (a `rediss://` URL still turns it
 * on inside ioredis, with the defaults).
 */
export function tlsOptions(config: RedisStoreConfig): ConnectionOptions | undefined {
  const tls = config.tls;
  if (tls === undefined) return undefined;
  const ca = readTlsFile(config.id, "ca", tls.caFile);
  const cert = readTlsFile(config.id, "cert", tls.certFile);
  const key = readTlsFile(config.id, "key", tls.keyFile);
  return {
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    rejectUnauthorized: tls.rejectUnauthorized,
  };
}

/**
 * The ioredis options of a store that opens its own connection. Options chosen for a rate limiter:
 * - no automatic resend and no per-request retries: a decision whose reply was lost must not run twice
 *   (it would consume twice); the caller sees a `StoreError` and `on_store_error` decides;
 * - a socket timeout while replies are pending, so a connection that went silent is torn down and reopened
 *   instead of holding every later call hostage;
 * - reconnects forever with a short capped back-off: the store recovers by itself.
 *
 * With `sentinels`, ioredis asks them for the master of `name` and follows a failover; `tls` then applies to
 * the master connection (the Sentinels are asked in plain text).
 */
export function connectionOptions(config: RedisStoreConfig): {
  readonly common: Record<string, unknown>;
  readonly retryStrategy: (times: number) => number;
} {
  const retryStrategy = (times: number): number => Math.min(50 * times, 1_000);
  const tls = tlsOptions(config);
  const common = {
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: config.socketConnectTimeoutMs ?? Math.max(config.timeoutMs, 1_000),
    socketTimeout: config.socketTimeoutMs ?? Math.max(2 * config.timeoutMs, 1_000),
    ...(config.password === undefined ? {} : { password: config.password }),
    ...(tls === undefined ? {} : { tls }),
  };
  return { common, retryStrategy };
}

/** Opens the store's own connection (a single server, a Cluster, or the master its Sentinels name). */
export function openConnection(driver: IoRedisModule, config: RedisStoreConfig): RedisConnection {
  const urls =
    config.url === undefined ? [] : typeof config.url === "string" ? [config.url] : [...config.url];
  const first = urls[0];
  const { common, retryStrategy } = connectionOptions(config);
  const single = {
    ...common,
    retryStrategy,
    enableOfflineQueue: true,
    ...(config.db === undefined ? {} : { db: config.db }),
  };
  let client: InstanceType<IoRedisModule["Redis"]> | InstanceType<IoRedisModule["Cluster"]>;
  if (config.sentinel !== undefined) {
    client = new driver.Redis({
      ...single,
      sentinels: config.sentinel.sentinels.map(({ host, port }) => ({ host, port })),
      name: config.sentinel.name,
      ...(config.sentinel.password === undefined ? {} : { sentinelPassword: config.sentinel.password }),
      // A Sentinel that is down is skipped; one that answers is asked again on the next reconnect.
      sentinelRetryStrategy: retryStrategy,
    });
  } else if (first === undefined) {
    throw new StoreError(config.id, "the store has no url");
  } else if (config.cluster) {
    client = new driver.Cluster(clusterNodes(urls), {
      clusterRetryStrategy: retryStrategy,
      enableOfflineQueue: true,
      scaleReads: "master",
      redisOptions: { ...urlCredentials(first), ...common },
    });
  } else {
    client = new driver.Redis(first, single);
  }
  // ioredis reports connection trouble as "error" events as well as through the failing commands; the commands
  // carry it to the caller, so the event must not crash the process or print "Unhandled error event". The
  // event's reason (a refused certificate, a wrong password) is kept: a command that failed because the
  // connection is down says only "Reached the max retries per request limit", and the caller is told why.
  let connectionError: Error | undefined;
  client.on("error", (error: Error) => {
    connectionError = error;
  });
  client.on("ready", () => {
    connectionError = undefined;
  });
  const explained = <T>(command: Promise<T>): Promise<T> =>
    command.catch((error: unknown) => {
      const why = connectionError;
      if (why === undefined || !(error instanceof Error) || error.name !== "MaxRetriesPerRequestError")
        throw error;
      throw new Error(`the connection is down: ${why.message}`, { cause: error });
    });
  const hold = config.cluster
    ? <T>(command: Promise<T>) => command
    : holdOpenWhileBusy(client as Handles & typeof client);
  const busy = <T>(command: Promise<T>) => hold(explained(command));
  return connectionOn(client, busy, async () => {
    try {
      await Promise.race([
        client.quit(),
        new Promise((resolve) => setTimeout(resolve, Math.max(config.timeoutMs, 100)).unref()),
      ]);
    } catch {
      // Quitting a connection that is already down fails; the disconnect below is what matters.
    }
    client.disconnect();
  });
}

/**
 * The store's connection on a client the application owns (`RateSyncOptions.clients`): the scripts are defined
 * on it under names of their own, and that is all. Its listeners, its sockets' ref state and its lifetime stay
 * the application's: `close()` leaves it open, and an idle client holds the process open as the application
 * set it up to.
 */
export function attachClient(client: RedisClientLike): RedisConnection {
  return connectionOn(
    client,
    (command) => command,
    async () => {},
  );
}

/** The script command names of this version of the scripts (`rateSyncPeek_1a2b3c4d`). */
const COMMAND_NAMES = Object.fromEntries(
  Object.entries(SCRIPTS).map(([name, lua]) => [
    name,
    `${name}_${createHash("sha1").update(lua).digest("hex").slice(0, 8)}`,
  ]),
) as Readonly<Record<ScriptName, string>>;

/**
 * Defines the scripts on `client` and wraps it. The command names carry a hash of each script: two versions of
 * rate-sync sharing one client never run each other's scripts. ioredis runs a defined command with EVALSHA and
 * loads it (EVAL) only on `NOSCRIPT`, so a client shared with the application or another store loads each
 * script once per server.
 */
function connectionOn(
  client: RedisClientLike,
  busy: <T>(command: Promise<T>) => Promise<T>,
  close: () => Promise<void>,
): RedisConnection {
  const commands = client as unknown as Record<string, ScriptCommand | undefined>;
  for (const [name, lua] of Object.entries(SCRIPTS)) {
    const command = COMMAND_NAMES[name as ScriptName];
    if (typeof commands[command] !== "function") client.defineCommand(command, { lua });
  }
  // Bound once: ioredis's command functions read the client from `this`.
  const bound = Object.fromEntries(
    Object.entries(COMMAND_NAMES).map(([name, command]) => [
      name,
      (commands[command] as ScriptCommand).bind(client),
    ]),
  ) as Record<ScriptName, ScriptCommand>;
  const script = (name: ScriptName) => bound[name];
  const run = (name: ScriptName, keys: readonly string[], args: readonly string[]) =>
    busy(script(name)(keys.length, ...keys, ...args));

  return {
    decideBatch: (calls) => {
      const [numberOfKeys, ...keysAndArgs] = encodeBatch(calls);
      return busy(script("rateSyncDecideBatch")(numberOfKeys as number, ...(keysAndArgs as string[])));
    },
    decideOne: (kind, key, args) => busy(script(LEAN_COMMANDS[kind])(1, key, ...args)),
    peek: (keys, args) => run("rateSyncPeek", keys, args),
    refund: (keys, args) => run("rateSyncRefund", keys, args),
    renew: (key, leaseId, leaseMs) => run("rateSyncRenew", [key], [leaseId, String(leaseMs)]),
    del: (keys) => busy(client.del(...keys)),
    async scanNodes() {
      // An ioredis Cluster says so itself (`isCluster`), whether rate-sync opened it or the application did.
      if ((client as { isCluster?: boolean }).isCluster !== true)
        return [scanNode(client as unknown as ScanCommands, busy)];
      const cluster = client as InstanceType<IoRedisModule["Cluster"]>;
      // The masters are known once the Cluster has loaded its slots; a PING waits for that in the offline queue.
      if (cluster.status !== "ready") await cluster.ping();
      return cluster.nodes("master").map((node) => scanNode(node as unknown as ScanCommands, busy));
    },
    close,
  };
}
