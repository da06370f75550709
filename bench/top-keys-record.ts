/**
 * @module
 * Cost of one `TopKeys.record` (it runs on every denial): a flood of one key (a client retrying a denied
 * call), a skewed stream of 30-byte keys over 10,000 keys into one limiter, and a stream of all-distinct keys
 * (every record replaces a counter), at the defaults.
 *
 * Run: `node --import tsx bench/top-keys-record.ts`.
 */

import { TopKeys } from "../src/top-keys/top-keys.ts";

const N = 2_000_000;
let nowMs = 1_700_000_000_000;
const pad = (i: number) => `tenant:0001:${String(i).padStart(18, "0")}`;
const pool = Array.from({ length: 10_000 }, (_, i) => pad(i));
// Zipf-like index (weight ~ 1/j), from a fixed sequence so every run measures the same stream.
let seed = 7;
const next = () => {
  seed = (seed * 1_103_515_245 + 12_345) >>> 0;
  return seed / 4_294_967_296;
};
const skewed = Array.from({ length: 65_536 }, () => pool[Math.floor(10_000 ** next()) - 1] ?? pool[0]!);
const distinct = Array.from({ length: 65_536 }, (_, i) => pad(i + 20_000));

function run(name: string, keys: readonly string[]): void {
  const top = new TopKeys({ now: () => nowMs });
  for (let round = 0; round < 2; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < N; i++) {
      if ((i & 1023) === 0) nowMs += 50; // time moves: about 20 denials per millisecond
      top.record("api:<tenant>", keys[i & (keys.length - 1)]!, false);
    }
    const ns = Number(process.hrtime.bigint() - start) / N;
    if (round === 1) console.log(`${name}: ${ns.toFixed(0)} ns per record`);
  }
}

run("one key (a denied flood)", [pool[0]!]);
run("skewed keys (Zipf over 10,000)", skewed);
run("distinct keys (every record replaces)", distinct);
