import postgres from "postgres";
import { ddlStatements } from "./src/stores/postgres/ddl.ts";
import { postgresNames } from "./src/stores/postgres/identifiers.ts";
import { toCallArrays } from "./src/stores/postgres/codec.ts";
import { DECIDE_BATCH_ARGUMENTS } from "./src/stores/postgres/batch-sql.ts";
const sql = postgres("postgres://postgres@127.0.0.1:5432/test", { onnotice: () => {}, max: 1 });
const cfg = { schemaName: "public", tableName: "zz_batch_perf", unlogged: false };
const names = postgresNames("public", "zz_batch_perf");
const types = DECIDE_BATCH_ARGUMENTS.slice(1, -1).split(", ");
const text = `SELECT * FROM ${names.decideBatchFunction}(${types.map((t, i) => `$${i + 1}::${t}`).join(", ")})`;
const params = { kind: "fixed_window", limit: 1e9, windowMs: 60000 } as const;
const mk = (keys: (i: number) => string, n: number) =>
  toCallArrays(Array.from({ length: n }, (_, i) => ({ ops: [{ limiterId: "l", key: keys(i), params, cost: 1 }], maxWaitMs: 0 })));
try {
  for (const s of ddlStatements(cfg)) await sql.unsafe(s);
  await sql.unsafe(`create table if not exists zz_up (k text primary key, v bigint not null)`);
  const up = `INSERT INTO zz_up AS t (k, v) VALUES ($1, 1) ON CONFLICT (k) DO UPDATE SET v = t.v + 1 RETURNING v`;
  for (let w = 0; w < 50; w++) await sql.unsafe(up, ["x"], { prepare: true });
  { const t0 = performance.now(); for (let w = 0; w < 300; w++) await sql.unsafe(up, ["x" + (w % 50)], { prepare: true }); console.log("upsert", ((performance.now() - t0) / 300).toFixed(3)); }
  for (const [name, arr] of [["64 distinct", mk((i) => `k${i}`, 64)], ["64 hot", mk(() => "hot", 64)], ["8 distinct", mk((i) => `k${i}`, 8)], ["1", mk(() => "hot", 1)], ["16 distinct", mk((i) => `k${i}`, 16)]] as const) {
    for (let w = 0; w < 20; w++) await sql.unsafe(text, arr as never, { prepare: true });
    const n = 300;
    const t0 = performance.now();
    for (let w = 0; w < n; w++) await sql.unsafe(text, arr as never, { prepare: true });
    const ms = (performance.now() - t0) / n;
    console.log(name, ms.toFixed(3), "ms/stmt", ((arr[0].length / ms) * 1000).toFixed(0), "ops/s on one connection");
  }
} finally {
  await sql.unsafe(`drop table if exists zz_batch_perf cascade`);
  await sql.unsafe(`drop table if exists zz_up`);
  for (const f of names.functions) await sql.unsafe(`drop function if exists ${f}`).catch(() => {});
  await sql.end();
}
