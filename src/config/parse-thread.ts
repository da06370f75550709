/**
 * @module
 * Parses TOML text in a worker thread, so a reload of a large file leaves the event loop free while smol-toml
 * works (about 0.3 s for 100k limiter tables). The worker runs a few lines of plain JavaScript that load only
 * smol-toml's CommonJS build (none of this package's sources, which may be TypeScript run through a loader
 * the worker would not have).
 *
 * The document comes back in messages: first its head (everything but the limiter tables), then the limiter
 * tables, at most {@link TABLES_PER_PIECE} per message, each message asked for. Copying a message in
 * (structured clone) is done by this thread: in one message the whole document took as long as the parse.
 * Two messages are asked for at a time, so the worker prepares the next while this thread takes one in.
 *
 * Given cuts (see `split-points.ts`), the worker parses the file piece by piece and sends each piece's tables
 * as soon as it is parsed: the first tables arrive while it still parses the rest. When the pieces turn out
 * not to fit together (a TOML error in one, an id in two, `limiters` in the head), it says `unsplittable` and
 * the caller parses the file as a whole.
 */

import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { TABLES_PER_PIECE } from "./split-points.ts";
import { rememberKeys } from "./table-keys.ts";
import type { TomlErrorLike } from "./toml-error.ts";

/** What a parse thread gives back for the whole document. */
export type ThreadParse =
  | { readonly kind: "document"; readonly document: unknown; readonly messages: number }
  | { readonly kind: "toml-error"; readonly error: TomlErrorLike }
  /** The thread could not parse (it could not start, or smol-toml threw something else): parse here. */
  | { readonly kind: "unavailable"; readonly reason: string };

/** One message from a parse thread, in the order they come. */
export type ThreadMessage =
  /** The document without its limiter tables (`split`: they follow in `tables` messages, then `end`). */
  | { readonly kind: "head"; readonly document: Record<string, unknown>; readonly split: boolean }
  /** Limiter tables as `[id, table]`, in file order. */
  | { readonly kind: "tables"; readonly tables: readonly (readonly [string, unknown])[] }
  | { readonly kind: "end" }
  | { readonly kind: "toml-error"; readonly error: TomlErrorLike }
  /** The pieces do not fit together: parse the file as a whole. */
  | { readonly kind: "unsplittable"; readonly reason: string }
  | { readonly kind: "unavailable"; readonly reason: string };

// The worker's source. Pieces are the text between the cuts; without cuts, the whole text is one piece and
// its `limiters`, when a table, are sent apart, table by table, in their key order.
const WORKER_SOURCE = `(() => {
const { parentPort, workerData } = require("node:worker_threads");
const { parse, TomlError } = require(workerData.smolToml);
const { text, cuts, perMessage } = workerData;
const split = cuts.length > 0;
const bounds = [0, ...cuts, text.length];
let piece = 0;
const parsePiece = () => parse(text.slice(bounds[piece], bounds[++piece]));
const isTable = (value) => value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof Date);
const failed = (error) => {
  if (split) return { kind: "unsplittable", reason: "a piece does not parse: " + String(error && error.message || error) };
  if (error instanceof TomlError) return { kind: "toml-error", error: { message: error.message, line: error.line, column: error.column } };
  return { kind: "unavailable", reason: String(error && error.message || error) };
};
let document;
try {
  document = parsePiece();
} catch (error) {
  parentPort.postMessage(failed(error));
  return;
}
// Tables parsed and not yet sent, from index \`sent\` on.
let pending = [];
let sent = 0;
if (split) {
  if (Object.hasOwn(document, "limiters")) {
    parentPort.postMessage({ kind: "unsplittable", reason: "the head has limiters" });
    return;
  }
} else {
  const limiters = document.limiters;
  if (!isTable(limiters)) {
    parentPort.postMessage({ kind: "head", document, split: false });
    return;
  }
  document.limiters = null;
  pending = Object.keys(limiters).map((id) => [id, limiters[id]]);
}
const seen = new Set();
const send = () => {
  try {
    while (pending.length - sent < perMessage && piece < bounds.length - 1) {
      const next = parsePiece();
      const keys = Object.keys(next);
      if (keys.length !== 1 || keys[0] !== "limiters" || !isTable(next.limiters)) {
        parentPort.postMessage({ kind: "unsplittable", reason: "a piece holds more than limiter tables" });
        return;
      }
      if (sent > 0) { pending = pending.slice(sent); sent = 0; }
      for (const id of Object.keys(next.limiters)) {
        if (seen.has(id)) {
          parentPort.postMessage({ kind: "unsplittable", reason: "limiter " + JSON.stringify(id) + " is in two pieces" });
          return;
        }
        seen.add(id);
        pending.push([id, next.limiters[id]]);
      }
    }
  } catch (error) {
    parentPort.postMessage(failed(error));
    return;
  }
  if (sent >= pending.length) {
    parentPort.postMessage({ kind: "end" });
    parentPort.close();
    return;
  }
  parentPort.postMessage({ kind: "tables", tables: pending.slice(sent, sent + perMessage) });
  sent += perMessage;
};
parentPort.on("message", send);
parentPort.postMessage({ kind: "head", document, split: true });
})();
`;

/** Where the worker loads smol-toml from: this package's own dependency, found once, when first needed. */
let smolToml: string | undefined;

/** Messages asked for ahead: the worker prepares one while this thread takes the other in. */
const ASKED_AHEAD = 2;

/**
 * A worker thread parsing one text: read its messages in order with {@link read}; {@link close} when done
 * (also early). Tables come back as plain objects (smol-toml's are null-prototype) and dates as `Date`s; keys
 * such as `__proto__` stay own keys.
 */
export class ParseThread {
  readonly #worker: Worker | undefined;
  readonly #queue: ThreadMessage[] = [];
  #waiting: ((message: ThreadMessage) => void) | undefined;
  #final: ThreadMessage | undefined;
  /** Messages received so far. */
  messages = 0;

  /**
   * Starts the worker on `text`.
   * @param cuts - where to cut `text` into pieces (see `limiterSplitPointsSteps`); none parses it whole.
   */
  constructor(text: string, cuts: readonly number[] = []) {
    try {
      smolToml ??= createRequire(import.meta.url).resolve("smol-toml");
      this.#worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { text, cuts, smolToml, perMessage: TABLES_PER_PIECE },
      });
    } catch (error) {
      this.#finish({ kind: "unavailable", reason: error instanceof Error ? error.message : String(error) });
      return;
    }
    const worker = this.#worker;
    worker.unref();
    worker.on("message", (message: ThreadMessage) => {
      if (this.#final !== undefined) return;
      this.messages++;
      if (message.kind === "head" && message.split) {
        for (let i = 0; i < ASKED_AHEAD; i++) worker.postMessage("next");
      } else if (message.kind === "tables") {
        worker.postMessage("next");
      }
      if (message.kind === "head" ? !message.split : message.kind !== "tables") this.#finish(message);
      else this.#deliver(message);
    });
    worker.on("error", (error) => this.#finish({ kind: "unavailable", reason: error.message }));
    worker.on("exit", (code) =>
      this.#finish({ kind: "unavailable", reason: `the parse thread exited (${code})` }),
    );
  }

  /** The next message; after the last one (`end`, a failure, an unsplit head) that one again. */
  read(): Promise<ThreadMessage> {
    const next = this.#queue.shift() ?? this.#final;
    if (next !== undefined) return Promise.resolve(next);
    return new Promise((resolve) => {
      this.#waiting = resolve;
    });
  }

  /** Stops the worker (a no-op once it has finished). */
  close(): void {
    this.#finish({ kind: "unavailable", reason: "closed" });
  }

  #deliver(message: ThreadMessage): void {
    const waiting = this.#waiting;
    if (waiting === undefined) {
      this.#queue.push(message);
      return;
    }
    this.#waiting = undefined;
    waiting(message);
  }

  #finish(message: ThreadMessage): void {
    if (this.#final !== undefined) return;
    this.#final = message;
    void this.#worker?.terminate();
    const waiting = this.#waiting;
    this.#waiting = undefined;
    // Messages already queued are read first; `read` gives the final one after them.
    if (waiting !== undefined) waiting(message);
  }
}

/**
 * Parses `text` with smol-toml in a worker thread, as a whole, and gives back the whole document.
 */
export async function parseTomlInThread(text: string): Promise<ThreadParse> {
  const thread = new ParseThread(text);
  let head: Record<string, unknown> | undefined;
  // Null prototype, as smol-toml makes them: ids such as `__proto__` are plain keys.
  const limiters: Record<string, unknown> = Object.create(null);
  // The worker sends the tables in `Object.keys` order: recorded, so no pass needs the whole list at once.
  const ids: string[] = [];
  try {
    for (;;) {
      const message = await thread.read();
      switch (message.kind) {
        case "head":
          head = message.document;
          if (!message.split) return { kind: "document", document: head, messages: thread.messages };
          break;
        case "tables":
          for (const [id, table] of message.tables) {
            limiters[id] = table;
            ids.push(id);
          }
          break;
        case "end":
          rememberKeys(limiters, ids);
          if (head !== undefined) head.limiters = limiters;
          return { kind: "document", document: head, messages: thread.messages };
        case "unsplittable":
          return { kind: "unavailable", reason: message.reason };
        default:
          return message;
      }
    }
  } finally {
    thread.close();
  }
}
