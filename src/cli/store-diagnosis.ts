/**
 * @module
 * What the CLI says when a store cannot be used. The drivers word the same fault differently (ioredis, which
 * never retries a call here, says "Reached the max retries per request limit (which is 0)"; postgres.js says
 * "connect ECONNREFUSED host:port"), so the CLI names the store, its URL with the secret masked, and the cause
 * it finds itself by opening a plain TCP connection to the store's address.
 */

import { connect } from "node:net";
import { describeAddress, storeUrls } from "../config/store-address.ts";
import type { StoreConfig } from "../config/types.ts";

const DEFAULT_PORTS: Readonly<Record<string, number>> = { redis: 6379, postgres: 5432 };
const PROBE_TIMEOUT_MS = 2000;

/** The host and port a store URL points at, when it names one (not a unix socket). */
function addressOf(url: string, engine: string): { host: string; port: number } | undefined {
  try {
    const parsed = new URL(url);
    const host = parsed.hostname.replace(/^\[|\]$/g, "");
    if (host === "") return undefined;
    return { host, port: parsed.port === "" ? (DEFAULT_PORTS[engine] ?? 0) : Number(parsed.port) };
  } catch {
    return undefined;
  }
}

/** Why a TCP connection to `host:port` fails (`connect ECONNREFUSED 127.0.0.1:6379`), or undefined if it opens. */
export function probeTcp(
  host: string,
  port: number,
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (cause: string | undefined) => {
      socket.destroy();
      resolve(cause);
    };
    socket.setTimeout(timeoutMs, () => done(`connect timed out after ${timeoutMs} ms (${host}:${port})`));
    socket.once("connect", () => done(undefined));
    socket.once("error", (error: NodeJS.ErrnoException) => {
      done(`connect ${error.code ?? error.message} ${host}:${port}`);
    });
  });
}

/**
 * The line to print for a failed store call: `store "cache" (redis://:****@cache:6379/0) is unreachable:
 * connect ECONNREFUSED 10.0.0.5:6379`, or, when the address answers, the driver's own reason.
 *
 * @param reason - The store error's message (already free of secrets).
 */
export async function describeStoreFailure(store: StoreConfig, reason: string): Promise<string> {
  if (store.engine === "memory") return `store "${store.id}" (memory) failed: ${reason}`;
  if (store.engine === "sqlite") {
    // A file on this host: nothing to probe, and the reason names the file.
    return `store "${store.id}" (sqlite ${JSON.stringify(store.path)}) failed: ${reason.replace(/^Store "[^"]*": /, "")}`;
  }
  const urls = storeUrls(store);
  const shown = describeAddress(store);
  const first = urls[0];
  const address = first === undefined ? undefined : addressOf(first, store.engine);
  if (address !== undefined) {
    const cause = await probeTcp(
      address.host,
      address.port,
      store.socketConnectTimeoutMs ?? PROBE_TIMEOUT_MS,
    );
    if (cause !== undefined) return `store "${store.id}" (${shown}) is unreachable: ${cause}`;
  }
  // The address answers (or cannot be probed): the driver's reason is the cause (authentication, a database
  // that does not exist, a timeout…). Its `Store "<id>": ` prefix would only repeat the id.
  const detail = reason.replace(/^Store "[^"]*": /, "");
  return `store "${store.id}" (${shown}) failed: ${detail}`;
}
