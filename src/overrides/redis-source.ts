/**
 * @module
 * Overrides in Redis: a hash of records, a version counter, a history list and a pub/sub channel, all under
 * the store's `key_prefix` and one hash tag (so a cluster keeps them in one slot). A write is one script: the
 * bound on the count, the record, the version, the history and the announcement, atomically. The subscriber
 * has its own connection (a subscribed connection can run nothing else); ioredis subscribes again after a
 * reconnect, and its `ready` is the cue to catch up.
 */

import type { Redis } from "ioredis";
import type { RedisStoreConfig } from "../config/types.ts";
import { InvalidArgumentError } from "../errors.ts";
import { holdOpenWhileBusy, loadIoRedis } from "../stores/redis/client.ts";
import { decodeChange } from "./record.ts";
import {
  changeOf,
  type OverrideSource,
  type SourceListener,
  type SourceWrite,
  type StoredOverrides,
  type WriteResult,
} from "./source.ts";
import type { OverrideChange } from "./types.ts";

/** KEYS: data, version, history. ARGV: action, id, json, max, history size, change, expires marker, channel. */
const WRITE_SCRIPT = `
local action, id = ARGV[1], ARGV[2]
local version = tonumber(redis.call('GET', KEYS[2]) or '0')
if action == 'set' then
  if redis.call('HEXISTS', KEYS[1], id) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
    return {version, -1}
  end
  redis.call('HSET', KEYS[1], id, ARGV[3])
else
  local current = redis.call('HGET', KEYS[1], id)
  if not current then return {version, 0} end
  if action == 'expire' and string.find(current, ARGV[7], 1, true) == nil then return {version, 0} end
  redis.call('HDEL', KEYS[1], id)
end
version = redis.call('INCR', KEYS[2])
local keep = tonumber(ARGV[5])
if keep > 0 then
  redis.call('LPUSH', KEYS[3], version .. '\\n' .. ARGV[6])
  redis.call('LTRIM', KEYS[3], 0, keep - 1)
end
redis.call('PUBLISH', ARGV[8], tostring(version))
return {version, 1}
`;

/** KEYS: data, version. The set and its version, read together. */
const READ_SCRIPT = `
return {redis.call('GET', KEYS[2]) or '0', redis.call('HGETALL', KEYS[1])}
`;

/** Names of everything the overrides of one Redis store use. */
export function redisOverrideKeys(keyPrefix: string): {
  data: string;
  version: string;
  history: string;
  channel: string;
} {
  const base = `${keyPrefix}:{overrides}`;
  return {
    data: `${base}:data`,
    version: `${base}:version`,
    history: `${base}:history`,
    channel: `${base}:changes`,
  };
}

type Scripted = Redis & {
  rateSyncOverrideWrite(...args: (string | number)[]): Promise<[number, number]>;
  rateSyncOverrideRead(...args: (string | number)[]): Promise<[string, string[]]>;
};

/** A {@link OverrideSource} on a Redis store. */
export class RedisSource implements OverrideSource {
  readonly #config: RedisStoreConfig;
  readonly #maxOverrides: number;
  readonly #historySize: number;
  readonly #keys: ReturnType<typeof redisOverrideKeys>;
  #client:
    | Promise<{
        command: Scripted;
        busy: <T>(p: Promise<T>) => Promise<T>;
        subscriber: Redis;
        listening: <T>(p: Promise<T>) => Promise<T>;
      }>
    | undefined;
  #closed = false;

  constructor(config: RedisStoreConfig, maxOverrides: number, historySize: number) {
    if (config.cluster) {
      throw new InvalidArgumentError(
        `[overrides] store "${config.id}": a Redis Cluster store cannot hold overrides yet; name a single-node Redis or a PostgreSQL store`,
      );
    }
    this.#config = config;
    this.#maxOverrides = maxOverrides;
    this.#historySize = historySize;
    this.#keys = redisOverrideKeys(config.keyPrefix);
  }

  /** The two connections, opened on first use. */
  #connections() {
    this.#client ??= (async () => {
      const driver = await loadIoRedis(this.#config.id);
      const config = this.#config;
      // Validation refuses an overrides store without a url (one on an injected client).
      const url = typeof config.url === "string" ? config.url : (config.url?.[0] ?? "");
      const options = {
        // A write or read whose reply was lost fails (and is retried by the next check), never runs twice.
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        enableOfflineQueue: true,
        connectTimeout: config.socketConnectTimeoutMs ?? Math.max(config.timeoutMs, 1_000),
        retryStrategy: (times: number) => Math.min(50 * times, 1_000),
        ...(config.password === undefined ? {} : { password: config.password }),
        ...(config.db === undefined ? {} : { db: config.db }),
      };
      const command = new driver.Redis(url, options) as Scripted;
      // Errors arrive through the commands (or the next check); the events must not crash the process.
      command.on("error", () => {});
      command.defineCommand("rateSyncOverrideWrite", { numberOfKeys: 3, lua: WRITE_SCRIPT });
      command.defineCommand("rateSyncOverrideRead", { numberOfKeys: 2, lua: READ_SCRIPT });
      const busy = holdOpenWhileBusy(command as unknown as NodeJS.EventEmitter);
      const subscriber = new driver.Redis(url, { ...options, autoResubscribe: true });
      subscriber.on("error", () => {});
      // A subscription waiting for messages must not keep the process alive (a process exits once its own work
      // is done, `close()` or not); the SUBSCRIBE itself does, until it is answered.
      const listening = holdOpenWhileBusy(subscriber as unknown as NodeJS.EventEmitter);
      return { command, busy, subscriber, listening };
    })();
    return this.#client;
  }

  async read(): Promise<StoredOverrides> {
    const { command, busy } = await this.#connections();
    const [version, flat] = await busy(command.rateSyncOverrideRead(this.#keys.data, this.#keys.version));
    const entries = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) entries.set(flat[i]!, flat[i + 1]!);
    return { version: Number(version), entries };
  }

  async version(): Promise<number> {
    const { command, busy } = await this.#connections();
    return Number((await busy(command.get(this.#keys.version))) ?? 0);
  }

  async write(change: SourceWrite): Promise<WriteResult> {
    const { command, busy } = await this.#connections();
    const id = change.action === "set" ? change.record.id : change.id;
    // The history line is completed with the version inside the script: `<version>\n<change json>`.
    const entry = JSON.stringify(changeOf(change, 0));
    const marker = change.action === "expire" ? `"expiresAt":${change.expiresAt}` : "";
    const [version, outcome] = await busy(
      command.rateSyncOverrideWrite(
        this.#keys.data,
        this.#keys.version,
        this.#keys.history,
        change.action,
        id,
        change.action === "set" ? change.json : "",
        this.#maxOverrides,
        this.#historySize,
        entry,
        marker,
        this.#keys.channel,
      ),
    );
    if (outcome === -1) {
      throw new InvalidArgumentError(
        `override "${id}" refused: ${this.#maxOverrides} overrides exist already (max_overrides)`,
      );
    }
    return { version: Number(version), changed: outcome === 1 };
  }

  async history(limit: number): Promise<OverrideChange[]> {
    const { command, busy } = await this.#connections();
    const lines = await busy(command.lrange(this.#keys.history, 0, limit - 1));
    const changes: OverrideChange[] = [];
    for (const line of lines) {
      const cut = line.indexOf("\n");
      const change = decodeChange(line.slice(cut + 1));
      if (change !== undefined) changes.push({ ...change, version: Number(line.slice(0, cut)) });
    }
    return changes;
  }

  async listen(listener: SourceListener): Promise<void> {
    const { subscriber, listening } = await this.#connections();
    subscriber.on("message", (channel: string, message: string) => {
      if (channel !== this.#keys.channel) return;
      const version = Number(message);
      listener.onNotify(Number.isFinite(version) ? version : undefined);
    });
    // Every reconnect may have missed messages: ioredis subscribes again before `ready`, and a subscription that
    // failed at start (the server was down) is made then.
    let subscribed = false;
    const subscribe = async (): Promise<void> => {
      await listening(subscriber.subscribe(this.#keys.channel));
      subscribed = true;
      listener.onConnect();
    };
    subscriber.on("ready", () => {
      if (subscribed) listener.onConnect();
      else subscribe().catch(() => {});
    });
    await subscribe();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const client = this.#client;
    if (client === undefined) return;
    const opened = await client.catch(() => undefined);
    if (opened === undefined) return;
    const { command, busy, subscriber, listening } = opened;
    // Through the busy wrappers: an idle connection is unref'd, and a QUIT on it must still hold the process
    // until it is answered (or the grace period ends; that timer is ref'd for the same reason).
    const quit = (connection: Redis, hold: <T>(p: Promise<T>) => Promise<T>) =>
      Promise.race([
        hold(connection.quit()).catch(() => {}),
        new Promise((resolve) => setTimeout(resolve, 200)),
      ]).then(() => connection.disconnect());
    await Promise.all([quit(command, busy), quit(subscriber, listening)]);
  }
}
