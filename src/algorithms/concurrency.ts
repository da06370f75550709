/**
 * @module
 * The concurrency limit's functions at their former path (the memory store imports them from here); they live
 * in `concurrency/`.
 */

export {
  acquireLease,
  peekConcurrency,
  type RenewOutcome,
  releaseLease,
  renewLease,
} from "./concurrency/index.ts";
