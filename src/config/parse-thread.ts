/**
 * @module
 * Parses TOML text in a worker thread, so a reload of a large file leaves the event loop free while smol-toml
 * works (about a second for 100k limiter tables). The worker runs a few lines of plain JavaScript that load
 * only smol-toml's CommonJS build (none of this package's sources, which may be TypeScript run through a
 * loader the worker would not have). The document comes back in messages of at most {@link TABLES_PER_MESSAGE}
 * limiter tables, one asked for at a time: copying it back (structured clone) is done by the main thread, and
 * in one message it took as long as the parse itself.
 */

import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { rememberKeys } from "./table-keys.ts";
import type { TomlErrorLike } from "./toml-error.ts";

/** Limiter tables per message from the worker: each message costs the event loop a few milliseconds. */
export const TABLES_PER_MESSAGE = 500;

/** What a parse thread gives back. */
export type ThreadParse =
  | { readonly kind: "document"; readonly document: unknown; readonly messages: number }
  | { readonly kind: "toml-error"; readonly error: TomlErrorLike }
  /** The thread could not parse (it could not start, or smol-toml threw something else): parse here. */
  | { readonly kind: "unavailable"; readonly reason: string };

// The worker's source. `limiters`, when a table, is sent apart, table by table, in its key order.
const WORKER_SOURCE = `(() => {
const { parentPort, workerData } = require("node:worker_threads");
const { parse, TomlError } = require(workerData.smolToml);
let document;
try {
  document = parse(workerData.text);
} catch (error) {
  if (error instanceof TomlError) {
    parentPort.postMessage({ kind: "toml-error", error: { message: error.message, line: error.line, column: error.column } });
  } else {
    parentPort.postMessage({ kind: "unavailable", reason: String(error && error.message || error) });
  }
  return;
}
const limiters = document.limiters;
const isTable = limiters !== null && typeof limiters === "object" && !Array.isArray(limiters) && !(limiters instanceof Date);
if (!isTable) {
  parentPort.postMessage({ kind: "head", document, split: false });
  return;
}
document.limiters = null;
const ids = Object.keys(limiters);
let next = 0;
// One batch per request: Node delivers every queued message in one go, which would copy the whole document
// back in one piece again.
const send = () => {
  if (next >= ids.length) {
    parentPort.postMessage({ kind: "end" });
    parentPort.close();
    return;
  }
  const batch = [];
  for (const id of ids.slice(next, next + workerData.perMessage)) batch.push([id, limiters[id]]);
  next += workerData.perMessage;
  parentPort.postMessage({ kind: "tables", tables: batch });
};
parentPort.on("message", send);
parentPort.postMessage({ kind: "head", document, split: true });
})();
`;

/** Where the worker loads smol-toml from: this package's own dependency, found once, when first needed. */
let smolToml: string | undefined;

type WorkerMessage =
  | { kind: "head"; document: Record<string, unknown>; split: boolean }
  | { kind: "tables"; tables: [string, unknown][] }
  | { kind: "end" }
  | { kind: "toml-error"; error: TomlErrorLike }
  | { kind: "unavailable"; reason: string };

/**
 * Parses `text` with smol-toml in a worker thread. Tables come back as plain objects (smol-toml's are
 * null-prototype) and dates as `Date`s; keys such as `__proto__` stay own keys.
 */
export function parseTomlInThread(text: string): Promise<ThreadParse> {
  return new Promise((resolve) => {
    let worker: Worker;
    try {
      smolToml ??= createRequire(import.meta.url).resolve("smol-toml");
      worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { text, smolToml, perMessage: TABLES_PER_MESSAGE },
      });
    } catch (error) {
      resolve({ kind: "unavailable", reason: error instanceof Error ? error.message : String(error) });
      return;
    }
    worker.unref();
    let settled = false;
    let head: Record<string, unknown> | undefined;
    // Null prototype, as smol-toml makes them: ids such as `__proto__` are plain keys.
    const limiters: Record<string, unknown> = Object.create(null);
    // The worker sends the tables in `Object.keys` order: recorded, so no pass needs the whole list at once.
    const ids: string[] = [];
    let messages = 0;
    const finish = (result: ThreadParse): void => {
      if (settled) return;
      settled = true;
      void worker.terminate();
      resolve(result);
    };
    // The next batch is asked for after a turn of the event loop, so each batch's copy is a slice of its own.
    const askForMore = (): void => {
      setImmediate(() => {
        if (!settled) worker.postMessage("next");
      });
    };
    worker.on("message", (message: WorkerMessage) => {
      messages++;
      switch (message.kind) {
        case "head":
          head = message.document;
          if (!message.split) finish({ kind: "document", document: head, messages });
          else askForMore();
          break;
        case "tables":
          for (const [id, table] of message.tables) {
            limiters[id] = table;
            ids.push(id);
          }
          askForMore();
          break;
        case "end":
          rememberKeys(limiters, ids);
          if (head !== undefined) head.limiters = limiters;
          finish({ kind: "document", document: head, messages });
          break;
        default:
          finish(message);
      }
    });
    worker.on("error", (error) => finish({ kind: "unavailable", reason: error.message }));
    worker.on("exit", (code) => finish({ kind: "unavailable", reason: `the parse thread exited (${code})` }));
  });
}
