/**
 * @module
 * What an instance writes when an event that reports a failure has no listener: one notice per event kind,
 * with a topic that names the distinct problem (so the notices module writes it once a minute at most).
 * Events that report no failure (`reload`, `decision`) give none.
 */

import { maskSecrets } from "../config/mask.ts";
import { describeAddress } from "../config/store-address.ts";
import type { LimiterConfig, StoreConfig } from "../config/types.ts";
import type { RateSyncEventName, RateSyncEvents } from "./types.ts";

/** A notice to write: its level, its rate-limiting topic and its one-line message. */
export interface UnheardNotice {
  readonly level: "warn" | "error";
  readonly topic: string;
  readonly message: string;
}

/** What the message may name, looked up in the running config. */
export interface UnheardContext {
  readonly file: string | undefined;
  store(id: string): StoreConfig | undefined;
  limiter(id: string): LimiterConfig | undefined;
}

/** The store as a reader can find it: id, engine and URL (password masked) or file. */
function describeStore(id: string, config: StoreConfig | undefined): string {
  if (config === undefined || config.engine === "memory") return `store "${id}"`;
  if (config.engine === "sqlite") return `store "${id}" (sqlite, ${JSON.stringify(config.path)})`;
  return `store "${id}" (${config.engine}, ${describeAddress(config)})`;
}

/** What the limiter's `on_store_error` does with the calls while the store fails. */
const POLICY_EFFECT = {
  allow: "calls are let through unlimited",
  deny: "calls are refused",
  local: "calls are limited by this process alone",
} as const;

/**
 * The part of a key before its first `:`, and the key as a notice shows it (`api:…`): keys of one missing
 * template share one topic (not one per IP), and what follows the prefix (an IP, a user id) is not logged.
 */
function keyFamily(key: string): { readonly family: string; readonly shown: string } {
  const colon = key.indexOf(":");
  return colon === -1
    ? { family: key, shown: key }
    : { family: key.slice(0, colon), shown: `${key.slice(0, colon)}:…` };
}

/** The notice for an unheard event, or undefined when the event reports no failure. */
export function describeUnheard<K extends RateSyncEventName>(
  event: K,
  payload: RateSyncEvents[K],
  context: UnheardContext,
): UnheardNotice | undefined {
  switch (event) {
    case "reloadError": {
      const error = payload as RateSyncEvents["reloadError"];
      return {
        level: "error",
        topic: `reloadError:${error.message}`,
        message: `a config change was rejected and the running config is kept: ${error.message} (listen to "reloadError" to handle this yourself)`,
      };
    }
    case "storeError": {
      const { store, limiter, error } = payload as RateSyncEvents["storeError"];
      const policy = context.limiter(limiter)?.onStoreError;
      const effect = policy === undefined ? "" : `; on_store_error = "${policy}": ${POLICY_EFFECT[policy]}`;
      // The store is named once, in front: a StoreError's own `Store "id": ` prefix would repeat it.
      const cause = maskSecrets(error.message).replace(/^Store "[^"]*": /, "");
      return {
        level: "warn",
        // Per store, not per error, limiter or key: one outage shows up as several errors (refused, timed out,
        // breaker open) on every call, and gives one line a minute naming its first cause.
        topic: `storeError:${store}`,
        message: `${describeStore(store, context.store(store))} is failing: ${cause}${effect} (listen to "storeError" to handle this yourself; further failures of this store are not repeated for a minute)`,
      };
    }
    case "unknownLimiter": {
      const { key, error } = payload as RateSyncEvents["unknownLimiter"];
      const { family, shown } = keyFamily(key);
      return {
        level: "warn",
        topic: `unknownLimiter:${family}`,
        message: `${error.message.replace(JSON.stringify(key), JSON.stringify(shown))}${context.file === undefined ? "" : ` in ${context.file}`}; the call was rejected (listen to "unknownLimiter" to handle this yourself)`,
      };
    }
    case "reloadWarning": {
      const { message, limiters } = payload as RateSyncEvents["reloadWarning"];
      return { level: "warn", topic: `reloadWarning:${limiters.join(",")}`, message };
    }
    default:
      return undefined;
  }
}
