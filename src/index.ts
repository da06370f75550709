/**
 * @module
 * rate-sync: declarative, config-driven rate limiting for Node.js.
 */
export * from "./errors.ts";
