/**
 * @module
 * Abortable sleeping for `acquire()`: one timer per waiting call (never per key), cleared on abort or wake.
 */

import { MAX_TIMER_MS } from "../config/bounds.ts";

/** The error an aborted wait rejects with: the signal's reason when it is an Error, else one wrapping it. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const error = new Error(reason === undefined ? "The operation was aborted" : `Aborted: ${String(reason)}`, {
    cause: reason,
  });
  error.name = "AbortError";
  return error;
}

/** A sleep that can be cut short by `wake()` (a release in this process) or rejected by an AbortSignal. */
export interface Sleeper {
  /** Sleeps up to `ms` (finite); resolves early on `wake()`, rejects with the abort reason on abort. */
  sleep(ms: number, signal: AbortSignal | undefined): Promise<void>;
  /** Ends the current sleep now. */
  wake(): void;
}

/** Creates a {@link Sleeper}. */
export function createSleeper(): Sleeper {
  let wakeCurrent: (() => void) | undefined;
  return {
    sleep(ms, signal) {
      return new Promise<void>((resolve, reject) => {
        if (signal?.aborted) {
          reject(abortReason(signal));
          return;
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          wakeCurrent = undefined;
        };
        const onAbort = () => {
          done();
          reject(abortReason(signal!));
        };
        // Node timers overflow past 2^31-1 ms (about 24.8 days) and would fire after 1 ms: a longer sleep (a
        // reservation far ahead, a wait with no timeout) is chained in timers of at most that length, so it
        // ends when it should, not early.
        let left = Math.max(0, Math.ceil(ms));
        const arm = () => {
          const step = Math.min(MAX_TIMER_MS, left);
          left -= step;
          timer = setTimeout(() => {
            if (left > 0) {
              arm();
              return;
            }
            done();
            resolve();
          }, step);
        };
        wakeCurrent = () => {
          done();
          resolve();
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        arm();
      });
    },
    wake() {
      wakeCurrent?.();
    },
  };
}

/** Sleeps `ms`, rejecting with the abort reason if `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return createSleeper().sleep(ms, signal);
}
