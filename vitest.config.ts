import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // The examples that are tests run too, so they keep working as the library changes.
    include: ["test/**/*.test.ts", "examples/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Store-backed suites share one Redis and one PostgreSQL; files run in parallel but each file
    // namespaces its keys, so they never see each other's state.
    pool: "forks",
  },
});
