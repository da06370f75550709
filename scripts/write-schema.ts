/**
 * @module
 * Writes `schemas/rate-sync.schema.json` from the zod schemas (`npx tsx scripts/write-schema.ts`).
 * `test/config/schema-file.test.ts` fails when the committed file is out of date.
 */

import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { configSchemaJson } from "../src/config/describe.ts";

/** Where the schema is committed. */
export const SCHEMA_FILE = fileURLToPath(new URL("../schemas/rate-sync.schema.json", import.meta.url));

/** The file's exact contents: pretty JSON with a trailing newline. */
export function schemaFileText(): string {
  return `${JSON.stringify(configSchemaJson(), null, 2)}\n`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(SCHEMA_FILE, schemaFileText());
  console.log(`wrote ${SCHEMA_FILE}`);
}
