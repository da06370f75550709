/**
 * @module
 * `rs.overrides`: write, remove and list runtime overrides, and keep this process in step with the store that
 * holds them. Every process applies what the store holds: on a message (pub/sub, NOTIFY), on (re)connecting,
 * and on a periodic check of the store's version (a missed message is caught up). An override that does not
 * validate here is reported (`reloadError`) and never applied; while the store is unreachable, the overrides
 * last applied stay in force. Expiry is kept by every process with one timer, and the store entry is removed.
 */

import { MAX_TIMER_MS } from "../config/bounds.ts";
import { formatPath } from "../config/issues.ts";
import { maskSecrets } from "../config/mask.ts";
import type { OverridesConfig } from "../config/types.ts";
import type { TypedEmitter } from "../core/events.ts";
import type { RateSyncEvents } from "../core/types.ts";
import { assertValidKey } from "../decide/keys.ts";
import {
  ClosedError,
  ConfigError,
  InvalidArgumentError,
  isConfigError,
  UnknownLimiterError,
} from "../errors.ts";
import type { Registry } from "../limiters/registry.ts";
import { OverrideLayer, type Validate } from "./layer.ts";
import {
  checkNote,
  checkOverrideId,
  checkPatch,
  decodeChange,
  decodeRecord,
  encodeRecord,
  ttlMs,
} from "./record.ts";
import type { OverrideSource, StoredOverrides } from "./source.ts";
import type {
  ExplainedKey,
  OverrideChange,
  OverridePatch,
  OverrideRecord,
  OverrideSetOptions,
  OverrideStatus,
  OverrideUnsetOptions,
} from "./types.ts";

export { decodeChange };

/** What the overrides of one instance work with. */
export interface OverridesContext {
  readonly registry: Registry;
  /** Validates a limiter's definition in the running config. */
  readonly validate: Validate;
  /** Where `override` and `reloadError` are emitted. */
  readonly events: TypedEmitter<RateSyncEvents>;
  /** `[overrides]`, when the file has it. */
  readonly config: OverridesConfig | undefined;
}

/**
 * The runtime overrides of one RateSync instance.
 *
 * @example
 * ```ts
 * await rs.overrides.set("api:acme", { rate: "500/s" }, { ttl: "2h", reason: "INC-42", by: "alice" });
 * await rs.overrides.list();   // [{ id: "api:acme", patch: { rate: "500/s" }, expiresAt, reason, by, at }]
 * await rs.overrides.unset("api:acme");
 * ```
 */
export class Overrides {
  readonly #context: OverridesContext;
  readonly #source: OverrideSource;
  /** The overrides applied here; read by every call (see `RateSync`). */
  readonly layer: OverrideLayer;
  /** The stored JSON of each applied override (what a sync compares). */
  readonly #appliedJson = new Map<string, string>();
  /** Stored JSON already reported as invalid, by id: reported once, not at every sync. */
  readonly #rejected = new Map<string, string>();
  #version = -1;
  #syncedAt: number | undefined;
  #lastError: string | undefined;
  #lastStored: StoredOverrides | undefined;
  /** A sync queued and not started yet: later requests join it. */
  #pending: Promise<void> | undefined;
  #running: Promise<void> = Promise.resolve();
  #checkTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #recheckQueued = false;
  /** Settles once the first sync was tried (applied, or failed: the store may be down). */
  readonly #ready: Promise<void>;

  constructor(context: OverridesContext, source: OverrideSource) {
    this.#context = context;
    this.#source = source;
    this.layer = new OverrideLayer(context.registry, context.validate, (error) => this.#report(error));
    this.#ready = source
      .listen({
        onNotify: (version) => {
          if (version === undefined || version !== this.#version) this.#background();
        },
        onConnect: () => this.#background(),
      })
      .catch((error: unknown) => this.#failed(error))
      .then(() => this.sync())
      .catch(() => {});
    const interval = context.config?.checkIntervalMs;
    if (interval !== undefined) {
      this.#checkTimer = setInterval(() => this.#check(), interval);
      this.#checkTimer.unref();
    }
    // A reload may add the limiter an override was waiting for, or take one away: what the store holds is
    // checked again against the new config.
    context.events.on("reload", () => this.recheck());
  }

  /** The store that holds the overrides, or undefined when they live in this process only. */
  get store(): string | undefined {
    return this.#context.config?.store;
  }

  /** Resolves once the first read of the store was tried (it never rejects: see {@link status}). */
  ready(): Promise<void> {
    return this.#ready;
  }

  /**
   * Writes an override, for every process. Validated first against this process's config exactly as a file
   * limiter is: an override naming nothing, or giving an invalid definition, is refused and nothing is
   * written. Resolves once written and applied here.
   * @throws ConfigError (issues at `overrides."<id>".<field>`), InvalidArgumentError (shape, size, count,
   *   ttl), StoreError-like errors of the store.
   */
  async set(id: string, patch: OverridePatch, options: OverrideSetOptions = {}): Promise<OverrideRecord> {
    this.#assertOpen();
    checkOverrideId(id);
    checkPatch(id, patch);
    const reason = checkNote(id, "reason", options.reason);
    const by = checkNote(id, "by", options.by);
    const at = Date.now();
    const record: OverrideRecord = Object.freeze({
      id,
      patch: Object.freeze({ ...patch }),
      at,
      ...(options.ttl === undefined ? {} : { expiresAt: at + ttlMs(id, options.ttl) }),
      ...(reason === undefined ? {} : { reason }),
      ...(by === undefined ? {} : { by }),
    });
    if (this.layer.target(id) === undefined && this.#context.registry.get(id) === undefined) {
      // A key must be a valid key to be matched at all; say so before "matches nothing".
      assertValidKey(id);
    }
    this.layer.check(record);
    const json = encodeRecord(record);
    await this.#source.write({ action: "set", record, json });
    await this.sync();
    return record;
  }

  /**
   * Removes an override, for every process: what is under it applies again. Resolves to false when there was
   * none.
   */
  async unset(id: string, options: OverrideUnsetOptions = {}): Promise<boolean> {
    this.#assertOpen();
    checkOverrideId(id);
    const reason = checkNote(id, "reason", options.reason);
    const by = checkNote(id, "by", options.by);
    const result = await this.#source.write({
      action: "unset",
      id,
      at: Date.now(),
      ...(reason === undefined ? {} : { reason }),
      ...(by === undefined ? {} : { by }),
    });
    await this.sync();
    return result.changed;
  }

  /** The overrides the store holds now (read from it; expired ones left out). */
  async list(): Promise<OverrideRecord[]> {
    this.#assertOpen();
    const stored = await this.#source.read();
    const now = Date.now();
    const records: OverrideRecord[] = [];
    for (const [id, json] of stored.entries) {
      const record = decodeRecord(id, json);
      if (typeof record !== "string" && !isExpired(record, now)) records.push(record);
    }
    return records.sort((a, b) => a.id.localeCompare(b.id));
  }

  /** The overrides applied in this process now (what decisions use), without asking the store. */
  applied(): OverrideRecord[] {
    return this.layer.records();
  }

  /** The last changes, newest first (the store keeps `[overrides] history` of them). */
  async history(limit = 100): Promise<OverrideChange[]> {
    this.#assertOpen();
    if (!Number.isInteger(limit) || limit < 1)
      throw new InvalidArgumentError("history(limit): limit must be a positive integer");
    return this.#source.history(limit);
  }

  /** Which limiter `key` resolves to, the overrides that apply to it, and where each value comes from. */
  explain(key: string): ExplainedKey {
    assertValidKey(key);
    const target = this.layer.target(key);
    if (target === undefined) throw new UnknownLimiterError(key);
    const { entry } = target;
    const { base, overrides, effective } = this.layer.definitionFor(key, entry);
    return {
      key,
      limiter: entry.id,
      base,
      overrides,
      effective,
      sources: this.layer.sources(entry, overrides, effective),
    };
  }

  /** Reads the store now and applies what it holds. Rejects when the store cannot be read (nothing changes). */
  sync(): Promise<void> {
    if (this.#pending !== undefined) return this.#pending;
    const next = this.#running.then(() => {
      this.#pending = undefined;
      return this.#syncNow();
    });
    this.#pending = next;
    this.#running = next.catch(() => {});
    return next;
  }

  /** The health of the sync in this process. */
  status(): OverrideStatus {
    return {
      store: this.store,
      version: this.#version,
      ...(this.#syncedAt === undefined ? {} : { syncedAt: this.#syncedAt }),
      ...(this.#lastError === undefined ? {} : { lastError: this.#lastError }),
      applied: this.layer.records().length,
    };
  }

  /** Stops the timers and closes the store's connections. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#checkTimer);
    clearTimeout(this.#expiryTimer);
    await this.#running;
    await this.#source.close();
  }

  // ------------------------------------------------------------------------------------------------ private

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError();
  }

  #background(): void {
    if (!this.#closed) this.sync().catch(() => {});
  }

  /** The periodic check: the store's version only, and a whole read when it moved. */
  #check(): void {
    if (this.#closed) return;
    this.#source.version().then(
      (version) => {
        if (version !== this.#version) this.#background();
        else {
          this.#syncedAt = Date.now();
          this.#lastError = undefined;
        }
      },
      (error: unknown) => this.#failed(error),
    );
  }

  async #syncNow(): Promise<void> {
    if (this.#closed) return;
    let stored: StoredOverrides;
    try {
      stored = await this.#source.read();
    } catch (error) {
      this.#failed(error);
      throw error;
    }
    if (this.#closed) return;
    this.#syncedAt = Date.now();
    this.#lastError = undefined;
    this.#lastStored = stored;
    this.#apply(stored);
  }

  #failed(error: unknown): void {
    this.#lastError = maskSecrets(error instanceof Error ? error.message : String(error));
  }

  /**
   * Checks what the store held last against the config as it is now (after a reload, or a limiter configured
   * or removed in code): overrides waiting for a limiter apply, those the config now refuses are taken off.
   */
  recheck(): void {
    // Once per turn of the event loop, however many limiters a caller configures in a row.
    if (this.#recheckQueued || this.#lastStored === undefined || this.#closed) return;
    this.#recheckQueued = true;
    queueMicrotask(() => {
      this.#recheckQueued = false;
      const stored = this.#lastStored;
      // An override refused before is checked again too (it is not applied, so it is read as new), and
      // reported again only if its content changed.
      if (stored !== undefined && !this.#closed) this.#apply(stored, true);
    });
  }

  /**
   * Applies a stored set: what changed is applied (when valid) and announced, what is gone is removed. With
   * `recheck`, overrides applied already are checked again (the config under them changed): one the config
   * now refuses is taken off and reported.
   */
  #apply(stored: StoredOverrides, recheck = false): void {
    const now = Date.now();
    const events = this.#context.events;
    for (const [id, json] of stored.entries) {
      const same = this.#appliedJson.get(id) === json;
      if (same && !recheck) continue;
      const record = decodeRecord(id, json);
      if (typeof record === "string") {
        this.#refuse(id, json, `the stored override ${JSON.stringify(id)} cannot be read: ${record}`);
        continue;
      }
      if (isExpired(record, now)) {
        this.#drop(id, "expire");
        this.#cleanUp(record);
        continue;
      }
      try {
        this.layer.check(record);
      } catch (error) {
        if (this.#rejected.get(id) !== json) {
          this.#rejected.set(id, json);
          if (isConfigError(error)) this.#report(error);
        }
        // Applied, but refused by the config it now runs in: the layer below applies again.
        if (same) this.#drop(id, "unset");
        continue;
      }
      this.#rejected.delete(id);
      if (same) continue;
      const previous = this.layer.get(id);
      this.layer.put(id, record);
      this.#appliedJson.set(id, json);
      events.emit("override", { action: "set", id, record, ...(previous === undefined ? {} : { previous }) });
    }
    for (const id of [...this.#appliedJson.keys()]) {
      if (!stored.entries.has(id)) this.#drop(id, "unset");
    }
    for (const id of [...this.#rejected.keys()]) if (!stored.entries.has(id)) this.#rejected.delete(id);
    this.#version = stored.version;
    this.#scheduleExpiry();
  }

  /** Takes an applied override off and announces it. */
  #drop(id: string, action: "unset" | "expire"): void {
    const previous = this.layer.get(id);
    this.#appliedJson.delete(id);
    if (previous === undefined) return;
    this.layer.put(id, undefined);
    this.#context.events.emit("override", { action, id, previous });
  }

  /** Reports a stored entry that cannot be read at all (once per content). */
  #refuse(id: string, json: string, message: string): void {
    if (this.#rejected.get(id) === json) return;
    this.#rejected.set(id, json);
    const keys = ["overrides", id];
    this.#report(
      new ConfigError([
        {
          code: "invalid_value",
          file: `override ${JSON.stringify(id)}`,
          path: formatPath(keys),
          keys,
          message,
        },
      ]),
    );
  }

  /** Reports an override that is not applied, as a failed reload is reported. */
  #report(error: ConfigError): void {
    this.#context.events.emit("reloadError", error);
  }

  /** Expired in the store: removed there (only if it was not set again meanwhile; any process may do it). */
  #cleanUp(record: OverrideRecord): void {
    if (this.#closed || record.expiresAt === undefined) return;
    this.#source
      .write({
        action: "expire",
        id: record.id,
        at: Date.now(),
        expiresAt: record.expiresAt,
        reason: "expired",
      })
      .catch((error: unknown) => this.#failed(error));
  }

  /** One timer, at the next expiry of an applied override (unref'd: it never keeps the process alive). */
  #scheduleExpiry(): void {
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    let next = Number.POSITIVE_INFINITY;
    for (const record of this.layer.records())
      if (record.expiresAt !== undefined) next = Math.min(next, record.expiresAt);
    if (next === Number.POSITIVE_INFINITY || this.#closed) return;
    const delay = Math.min(Math.max(0, next - Date.now()), MAX_TIMER_MS);
    this.#expiryTimer = setTimeout(() => this.#expireNow(), delay);
    this.#expiryTimer.unref();
  }

  #expireNow(): void {
    const now = Date.now();
    for (const record of this.layer.records()) {
      if (!isExpired(record, now)) continue;
      this.#drop(record.id, "expire");
      this.#cleanUp(record);
    }
    this.#scheduleExpiry();
  }
}

function isExpired(record: OverrideRecord, now: number): boolean {
  return record.expiresAt !== undefined && record.expiresAt <= now;
}
