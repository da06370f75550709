/**
 * @module
 * Abortable sleeping for `acquire()`: one timer per waiting call (never per key), cleared on abort or wake.
 */

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

/** The longest delay a Node timer supports. */
const MAX_TIMER_MS = 2 ** 31 - 1;

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
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          wakeCurrent = undefined;
        };
        const onAbort = () => {
          done();
          reject(abortReason(signal!));
        };
        const timer = setTimeout(
          () => {
            done();
            resolve();
          },
          // Node timers overflow past 2^31-1 ms (about 24.8 days) and would fire at once.
          Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(ms))),
        );
        wakeCurrent = () => {
          done();
          resolve();
        };
        signal?.addEventListener("abort", onAbort, { once: true });
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
