import { defineConfig } from "tsup";

/**
 * Builds every public entry as ESM and CJS with types, so the package works from both `import` and
 * `require`. Optional peers are external: they are loaded only when a store or adapter needs them.
 */
export default defineConfig({
  entry: {
    index: "src/index.ts",
    "cli/main": "src/cli/main.ts",
    "http/express": "src/http/express.ts",
    "http/fastify": "src/http/fastify.ts",
    "http/hono": "src/http/hono.ts",
    "http/koa": "src/http/koa.ts",
    "http/nestjs/index": "src/http/nestjs/index.ts",
    "prometheus/index": "src/prometheus/index.ts",
    "otel/index": "src/otel/index.ts",
  },
  format: ["esm", "cjs"],
  dts: true,
  // Off: the maps doubled the tarball (1.1 of its 2.1 MB) and the shipped code is readable unminified ESM/CJS.
  sourcemap: false,
  clean: true,
  target: "node20",
  splitting: true,
  shims: true,
  external: [
    "ioredis",
    "postgres",
    "better-sqlite3",
    "prom-client",
    "express",
    "fastify",
    "hono",
    "koa",
    "@opentelemetry/api",
    /^@nestjs\//,
    "reflect-metadata",
    "rxjs",
  ],
});
