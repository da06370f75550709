/**
 * `rate-sync migrate [file] [--dry-run]` as a user runs it (a separate process), on tables of its own on the real
 * PostgreSQL server: a dry run prints the statements and creates nothing, a run brings the table to this
 * version, a second run finds it up to date, and a database newer than the library is refused with exit 1.
 */

import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { postgresNames } from "../../src/stores/postgres/identifiers.ts";
import { requirePostgres, uniqueName } from "../helpers/stores.ts";
import { adminSql, dropStoreObjects } from "../stores/postgres/setup.ts";

const run = promisify(execFile);
const CLI = resolve(import.meta.dirname, "../../src/cli/main.ts");
const TSX = pathToFileURL(resolve(import.meta.dirname, "../../node_modules/tsx/dist/loader.mjs")).href;
const dir = mkdtempSync(join(tmpdir(), "rate-sync-migrate-"));
const postgres = await requirePostgres();

async function cli(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", TSX, CLI, ...args], {
      cwd: dir,
      env: { ...process.env, RATE_SYNC_CONFIG: "" },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe.skipIf(!postgres.available)("rate-sync migrate", () => {
  const table = uniqueName("cli_migrate");
  const config = { schemaName: "public", tableName: table };
  const file = join(dir, "rate-sync.toml");
  writeFileSync(
    file,
    `[stores.db]
engine = "postgres"
url = "${postgres.url}"
table_name = "${table}"
auto_create = false

[stores.shared]
engine = "postgres"
client = "app"
`,
  );
  const names = postgresNames("public", table);

  afterAll(async () => {
    await dropStoreObjects(config, postgres.url);
  });

  it("--dry-run prints what it would run and creates nothing; a run migrates; a second finds it up to date", async () => {
    const sql = await adminSql(postgres.url);
    try {
      const dry = await cli(["migrate", file, "--dry-run"]);
      expect(dry.code).toBe(0);
      expect(dry.stdout).toContain(`store "db" (public.${table}): at version 0; would apply 1 (state table`);
      expect(dry.stdout).toContain(`CREATE TABLE IF NOT EXISTS ${names.table}`);
      expect(dry.stdout).toContain(
        'store "shared" (public.rate_sync_state): runs on client "app" given in code',
      );
      const [before] = await sql`SELECT to_regclass(${names.table}) IS NOT NULL AS exists`;
      expect(before?.exists).toBe(false);

      const first = await cli(["migrate", file]);
      expect(first.code).toBe(0);
      expect(first.stdout).toContain(`store "db" (public.${table}): version 0 → 1 (applied 1 (state table`);
      const [after] = await sql`SELECT to_regclass(${names.table}) IS NOT NULL AS exists`;
      expect(after?.exists).toBe(true);

      const second = await cli(["migrate", file]);
      expect(second.stdout).toContain(`store "db" (public.${table}): up to date at version 1`);

      await sql.unsafe(
        `INSERT INTO ${names.versionTable} (version, description) VALUES (7, 'from the future')`,
      );
      const refused = await cli(["migrate", file]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(
        `is at version 7, newer than this rate-sync supports (version 1); upgrade rate-sync`,
      );
    } finally {
      await sql.end({ timeout: 1 });
    }
  }, 60_000);

  it("--dry-run belongs to migrate only", async () => {
    const wrong = await cli(["check", file, "--dry-run"]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("check does not take --dry-run");
  });
});
