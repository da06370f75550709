/**
 * Hot reload: limits change while the process runs, no restart.
 *
 * Starts from a temp copy of a small config (2 requests a second, 5 asked), asks every 200 ms, raises the limit in the
 * file after 2 s and shows the new limit applying at once. Also wires SIGHUP to `rs.reload()` — the classic
 * "re-read your config" signal — and sends itself one. Ends by itself after about 6 s.
 *
 * Run: `npx tsx --tsconfig tsconfig.test.json examples/hot-reload.ts`
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RateSync } from "rate-sync";

const config = (rate: string) => `# rate-sync hot reload example
[limiters.api]
rate = "${rate}"   # a token bucket; its burst defaults to the rate's count (2/s -> 2)
`;

const dir = mkdtempSync(join(tmpdir(), "rate-sync-example-"));
const file = join(dir, "rate-sync.toml");
writeFileSync(file, config("2/s"));

const rs = await RateSync.fromFile(file, { watch: true });
const started = performance.now();
const at = () => `${String(Math.round(performance.now() - started)).padStart(5)} ms`;
console.log(`${at()}  watching ${file} (api: 2/s)`);

rs.on("reload", (event) => console.log(`${at()}  reload: ${JSON.stringify(event)}`));
rs.on("reloadError", (error) => console.log(`${at()}  reload rejected, old limits stay:\n${error.message}`));

// Operators send SIGHUP to say "re-read your config": same rules as the watcher.
const onSighup = () => {
  console.log(`${at()}  SIGHUP: reloading`);
  rs.reload().catch(() => {
    // Already reported through the "reloadError" listener above.
  });
};
process.on("SIGHUP", onSighup);

const ticker = setInterval(async () => {
  const d = await rs.tryAcquire("api");
  const detail = d.allowed ? `remaining ${d.remaining}` : `retry in ${Math.ceil(d.retryAfterMs)} ms`;
  console.log(`${at()}  api: ${d.allowed ? "allowed" : "DENIED "}  limit ${d.limit}, ${detail}`);
}, 200);

setTimeout(() => {
  // An editor's atomic save: write a temp file, rename it over the config.
  console.log(`${at()}  editing the file: api 2/s -> 10/s`);
  writeFileSync(`${file}.tmp`, config("10/s"));
  renameSync(`${file}.tmp`, file);
}, 2_000);

setTimeout(() => process.kill(process.pid, "SIGHUP"), 4_000);

setTimeout(async () => {
  clearInterval(ticker);
  process.off("SIGHUP", onSighup);
  await rs.close();
  rmSync(dir, { recursive: true, force: true });
  const { reloads, reloadErrors } = rs.metrics();
  console.log(`${at()}  done: ${reloads} reloads, ${reloadErrors} rejected`);
}, 5_500);
