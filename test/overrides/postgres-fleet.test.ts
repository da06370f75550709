/**
 * A fleet on PostgreSQL overrides: this process writes, two worker processes decide, one of them through a TCP
 * proxy. The shared server cannot be restarted, so the proxy stands in for a restart: it cuts every connection
 * of that worker (its pool and its LISTEN connection) and refuses new ones until restored. Each worker follows
 * every set, change, expiry and unset; a bad override is refused and never applied; the worker cut off keeps
 * what it had and applies everything written meanwhile once it is back.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RateSync } from "../../src/index.ts";
import { postgresOverrideNames } from "../../src/overrides/postgres-source.ts";
import { requirePostgres, uniqueName } from "../helpers/stores.ts";
import { TcpProxy } from "../helpers/tcp-proxy.ts";
import { adminSql, dropStoreObjects } from "../stores/postgres/setup.ts";
import { FleetWorker } from "./fleet.ts";

const postgres = await requirePostgres();
const TABLE = uniqueName("overrides_fleet");

function toml(url: string): string {
  return `
[stores.db]
engine = "postgres"
url = "${url}"
table_name = "${TABLE}"
timeout = "500ms"

[overrides]
store = "db"
check_interval = "200ms"

[limiters."api:<tenant>"]
rate = "100/s"
`;
}

describe.skipIf(!postgres.available)("overrides on PostgreSQL, across processes", () => {
  let proxy: TcpProxy;
  let writer: RateSync;
  let direct: FleetWorker;
  let proxied: FleetWorker;

  beforeAll(async () => {
    const target = new URL(postgres.url);
    proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
    const proxiedUrl = new URL(postgres.url);
    proxiedUrl.host = `127.0.0.1:${proxy.port}`;
    writer = RateSync.fromToml(toml(postgres.url), { quiet: true });
    writer.on("reloadError", () => {});
    await writer.overrides.ready();
    [direct, proxied] = await Promise.all([
      FleetWorker.start(toml(postgres.url)),
      FleetWorker.start(toml(proxiedUrl.toString())),
    ]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([direct?.stop(), proxied?.stop()]);
    await writer?.close();
    await proxy?.close();
    if (!postgres.available) return;
    await dropStoreObjects({ schemaName: "public", tableName: TABLE });
    const names = postgresOverrideNames("public", TABLE);
    const sql = await adminSql();
    try {
      for (const table of [names.data, names.version, names.history])
        await sql.unsafe(`DROP TABLE IF EXISTS ${table}`);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  const everyone = () => [direct, proxied];

  it("follows a set, a change and an unset; the other keys keep the template", async () => {
    await writer.overrides.set("api:acme", { rate: "500/s" }, { ttl: "2h", reason: "INC-42", by: "alice" });
    for (const worker of everyone()) await worker.waitFor("api:acme", 500);
    for (const worker of everyone()) expect(await worker.quota("api:other")).toBe(100);
    await writer.overrides.set("api:acme", { rate: "300/s" }, { reason: "INC-42", by: "alice" });
    for (const worker of everyone()) await worker.waitFor("api:acme", 300);
    await writer.overrides.set("api:beta", { burst: 42 });
    for (const worker of everyone()) await worker.waitFor("api:beta", 42);
    expect(await writer.overrides.unset("api:beta", { by: "bob" })).toBe(true);
    for (const worker of everyone()) await worker.waitFor("api:beta", 100);
    const history = await writer.overrides.history(10);
    expect(history.map((h) => `${h.action} ${h.id}`)).toEqual([
      "unset api:beta",
      "set api:beta",
      "set api:acme",
      "set api:acme",
    ]);
    expect(history[0]?.by).toBe("bob");
  }, 60_000);

  it("refuses a bad override when written, and never applies one written into the table anyway", async () => {
    await expect(writer.overrides.set("api:bad", { burst: -1 })).rejects.toThrow(
      /overrides\."api:bad"\.burst/,
    );
    const names = postgresOverrideNames("public", TABLE);
    const sql = await adminSql();
    try {
      const bad = JSON.stringify({ id: "api:bad", patch: { burst: -1 }, at: Date.now() });
      await sql.begin(async (tx) => {
        await tx.unsafe(`INSERT INTO ${names.data} (id, record) VALUES ('api:bad', $1)`, [bad]);
        const [row] = await tx.unsafe(
          `UPDATE ${names.version} SET version = version + 1 RETURNING version::text`,
        );
        await tx.unsafe("SELECT pg_notify($1, $2)", [names.channel, row?.version as string]);
      });
      await writer.overrides.set("api:gamma", { burst: 7 });
      for (const worker of everyone()) {
        await worker.waitFor("api:gamma", 7);
        expect(await worker.quota("api:bad")).toBe(100);
        expect(worker.errors.some((message) => /api:bad.*burst/.test(message))).toBe(true);
      }
      await sql.unsafe(`DELETE FROM ${names.data} WHERE id = 'api:bad'`);
    } finally {
      await sql.end({ timeout: 1 });
    }
  }, 60_000);

  it("expires an override in every process at its time, and removes it from the table", async () => {
    await writer.overrides.set("api:temp", { burst: 55 }, { ttl: "3s" });
    for (const worker of everyone()) await worker.waitFor("api:temp", 55);
    for (const worker of everyone()) await worker.waitFor("api:temp", 100);
    const cleaned = async () =>
      (await writer.overrides.history(20)).some((h) => h.action === "expire" && h.id === "api:temp");
    for (let i = 0; i < 100 && !(await cleaned()); i++) await sleep(50);
    expect(await cleaned()).toBe(true);
    expect((await writer.overrides.list()).some((r) => r.id === "api:temp")).toBe(false);
    for (const worker of everyone()) expect(worker.events).toContain("expire api:temp");
  }, 60_000);

  it("keeps the overrides of a process cut off, and applies everything written while it was away", async () => {
    proxy.cut();
    await writer.overrides.set("api:acme", { rate: "700/s" });
    await writer.overrides.set("api:delta", { burst: 9 });
    await writer.overrides.unset("api:gamma");
    await direct.waitFor("api:acme", 700);
    await direct.waitFor("api:gamma", 100);
    // Several periodic checks fail meanwhile: what it applied stays in force.
    await sleep(600);
    expect(await proxied.quota("api:acme")).toBe(300);
    expect(await proxied.quota("api:gamma")).toBe(7);
    proxy.restore();
    await proxied.waitFor("api:acme", 700);
    await proxied.waitFor("api:delta", 9);
    await proxied.waitFor("api:gamma", 100);
    // Back on LISTEN: a change after the outage arrives as before.
    await writer.overrides.set("api:delta", { burst: 11 });
    for (const worker of everyone()) await worker.waitFor("api:delta", 11);
  }, 60_000);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
