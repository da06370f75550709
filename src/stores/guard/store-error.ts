/**
 * @module
 * What a caller sees when a store call fails: one error type naming the store and the action, secrets masked.
 */

import { maskSecrets } from "../../config/mask.ts";
import { StoreError, StoreUnavailableError } from "../../errors.ts";

/**
 * Turns anything a driver threw into a {@link StoreError} naming the store and what was being done, with the
 * secrets masked. A `StoreError` or {@link StoreUnavailableError} passes through unchanged.
 */
export function toStoreError(
  storeId: string,
  error: unknown,
  action: string,
): StoreError | StoreUnavailableError {
  if (error instanceof StoreError || error instanceof StoreUnavailableError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new StoreError(storeId, `${action} failed: ${maskSecrets(detail)}`);
}
