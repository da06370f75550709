/**
 * @module
 * A per-call time budget. Its timer is unref'd (a call in flight keeps the process alive through its socket)
 * and cleared as soon as the call settles, so an idle process can exit and tests need no fake timers.
 */

import { StoreError } from "../../errors.ts";

/**
 * Settles like `promise`, or rejects with a {@link StoreError} once `ms` have passed. A late settlement of
 * `promise` is swallowed (never an unhandled rejection); a late *value* is handed to `onLate`, so the caller can
 * undo what the store did for a call its own caller already saw fail.
 *
 * @param ms The budget; `Infinity` or a non-positive value disables the timeout.
 * @param onLate Called with the value of `promise` when it fulfils after the budget ran out.
 * @example await withTimeout(client.get(key), config.timeoutMs, config.id)
 */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  storeId: string,
  action = "call",
  onLate?: (value: T) => void,
): Promise<T> {
  if (!(ms > 0) || !Number.isFinite(ms)) return promise;
  return new Promise<T>((resolve, reject) => {
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      reject(new StoreError(storeId, `${action} timed out after ${ms} ms`));
    }, ms);
    timer.unref?.();
    // Once the timeout has won, a later settlement of `promise` lands here and goes nowhere.
    promise.then(
      (value) => {
        if (expired) {
          onLate?.(value);
          return;
        }
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        if (expired) return;
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
