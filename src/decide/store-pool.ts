/**
 * @module
 * The stores of one RateSync instance: created on first use from the config (or injected by the caller),
 * one per store id and shared by every limiter and clone on it; the in-process stand-ins that
 * `on_store_error = "local"` decides with; and stores a reload replaced, closing after their calls in flight.
 */

import { formatPath } from "../config/issues.ts";
import type { ConfigSnapshot, StoreConfig } from "../config/types.ts";
import { ConfigError, type ConfigIssue, StoreError } from "../errors.ts";
import { clientProblem, createStore, type StoreClients } from "../stores/create-store.ts";
import { type HeldLeases, MemoryStore } from "../stores/memory/memory-store.ts";
import type { Store } from "../stores/store.ts";
import type { LeasePart, StoreProvider } from "./engine.ts";

/** The stand-in's name for the records of store-granted leases of a limiter (no config id contains NUL). */
function storeLeaseName(limiterId: string): string {
  return `${limiterId}\u0000store`;
}

function sameStore(a: StoreConfig, b: StoreConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The live stores of one instance. */
export class StorePool implements StoreProvider {
  /** Stores the caller built (`RateSyncOptions.stores`): never replaced or closed by a reload. */
  readonly #injected: Readonly<Record<string, Store>>;
  /** The config of a store id in the snapshot that runs now. */
  readonly #configOf: (id: string) => StoreConfig | undefined;
  readonly #stores = new Map<string, Store>();
  readonly #fallbacks = new Map<string, MemoryStore>();
  readonly #retiring = new Set<Promise<void>>();
  /** The clock of the memory stores made here (`RateSyncOptions.clock`); undefined: their default. */
  readonly #now: (() => number) | undefined;

  /** Connections the application handed over, by the name a store's `client` key gives. */
  readonly #clients: StoreClients;

  constructor(
    injected: Readonly<Record<string, Store>>,
    configOf: (id: string) => StoreConfig | undefined,
    clients: StoreClients = {},
    now?: () => number,
  ) {
    this.#injected = injected;
    this.#configOf = configOf;
    this.#clients = clients;
    this.#now = now;
  }

  /**
   * Refuses a config whose stores name a client that was not given (or is not of the engine's kind): at
   * construction and on every reload, before anything is applied.
   * @throws ConfigError listing each such store.
   */
  checkClients(snapshot: ConfigSnapshot): void {
    const issues: ConfigIssue[] = [];
    for (const [id, config] of snapshot.stores) {
      if (this.#injected[id]) continue;
      const problem = clientProblem(config, this.#clients);
      if (problem === undefined) continue;
      const keys = ["stores", id, "client"];
      issues.push({
        code: "invalid_value",
        file: snapshot.file ?? "<config>",
        path: formatPath(keys),
        keys,
        message: problem,
      });
    }
    if (issues.length > 0) throw new ConfigError(issues);
  }

  /** Ids of the stores the caller injected. */
  injectedIds(): string[] {
    return Object.keys(this.#injected);
  }

  /** The store with this id, created on first use. */
  store(id: string): Store {
    let store = this.#stores.get(id);
    if (store) return store;
    store = this.#injected[id];
    if (!store) {
      const config = this.#configOf(id);
      if (!config) throw new StoreError(id, "no store with this id is configured");
      store = createStore(config, this.#clients, this.#now);
    }
    this.#stores.set(id, store);
    return store;
  }

  /** The in-process stand-in for store `id`, used while it fails under `on_store_error = "local"`. */
  fallback(id: string): MemoryStore {
    let fallback = this.#fallbacks.get(id);
    if (!fallback) {
      fallback = new MemoryStore({ id: `${id}:local`, ...(this.#now ? { now: this.#now } : {}) });
      this.#fallbacks.set(id, fallback);
    }
    return fallback;
  }

  /**
   * Live leases of a key that the local stand-in of store `id` granted (during an outage, under
   * `on_store_error = "local"`) and that are not released or expired yet; none when there is no stand-in.
   */
  heldLocally(id: string, limiterId: string, key: string): HeldLeases | undefined {
    return this.#fallbacks.get(id)?.heldLeases(limiterId, key);
  }

  /**
   * Records in the stand-in of store `id` a lease that the store itself granted, under a name of its own (so
   * {@link heldLocally} does not count it): during an outage the stand-in then counts the slots this process
   * still holds in the store. Returns the part that releases and renews the record along with the lease.
   */
  recordStoreLease(id: string, limiterId: string, key: string, leaseId: string, leaseMs: number): LeasePart {
    const fallback = this.fallback(id);
    const name = storeLeaseName(limiterId);
    const params = { kind: "concurrency", maxConcurrent: Number.MAX_SAFE_INTEGER, leaseMs } as const;
    fallback.decideNow([{ limiterId: name, key, params, cost: 1, leaseId }], 0);
    return { store: fallback, limiterId: name, storeKey: key, leaseId, leaseMs };
  }

  /**
   * Forgets what the stand-in of store `id` holds of limiter `limiterId` (after the store cleared it): the state
   * it decided with during an outage, and its records of the leases the store granted, which the store no
   * longer holds.
   */
  async clearLocal(id: string, limiterId: string): Promise<void> {
    const fallback = this.#fallbacks.get(id);
    if (fallback === undefined) return;
    await fallback.clear(limiterId);
    await fallback.clear(storeLeaseName(limiterId));
  }

  /** Live leases of a key that store `id` granted this process and that are not released or expired yet. */
  heldFromStore(id: string, limiterId: string, key: string): HeldLeases | undefined {
    return this.#fallbacks.get(id)?.heldLeases(storeLeaseName(limiterId), key);
  }

  /**
   * After a reload: stores whose config changed get a new instance (a new connection, created on first use);
   * the old one closes after its calls in flight. A memory store is kept as long as it stays a memory store:
   * it has no connection to renew, and replacing it would silently forget the usage of every limiter on it.
   */
  retireChanged(previous: ConfigSnapshot, next: ConfigSnapshot): void {
    for (const [id, store] of this.#stores) {
      if (this.#injected[id]) continue;
      const before = previous.stores.get(id);
      const after = next.stores.get(id);
      if (after && before && sameStore(before, after)) continue;
      if (after?.engine === "memory" && before?.engine === "memory") continue;
      this.#stores.delete(id);
      const closing = store.close().catch(() => {});
      this.#retiring.add(closing);
      void closing.then(() => this.#retiring.delete(closing));
    }
  }

  /** Per store in use: its engine and whatever its `stats()` reports. */
  stats(): Record<string, Record<string, unknown>> {
    const stats: Record<string, Record<string, unknown>> = Object.create(null);
    for (const [id, store] of this.#stores) {
      const storeStats = (store as { stats?: () => Record<string, unknown> }).stats;
      stats[id] = {
        engine: store.engine,
        ...(typeof storeStats === "function" ? storeStats.call(store) : {}),
      };
    }
    return stats;
  }

  /**
   * Closes every store, stand-in and retiring store. A store on a client the application handed over closes
   * its own part only: the client stays open.
   */
  async close(): Promise<void> {
    const closing = [...this.#stores.values(), ...this.#fallbacks.values()].map((store) => store.close());
    await Promise.allSettled([...closing, ...this.#retiring]);
  }
}
