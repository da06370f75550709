/**
 * @module
 * Memory of the heavy-hitter sketches (`rs.topKeys()`): the heap one tracked limiter takes in the worst case,
 * its decayed sketch full of distinct denied keys (four times `counters` new keys in each minute of the
 * window, so every counter has been taken over), for a few sketch sizes and a 30-byte key. The keys are built
 * per denial, as a request's are, so the measure includes the strings the sketch keeps alive.
 *
 * Run: `node --expose-gc --import tsx bench/top-keys-memory.ts`.
 */

import { TopKeys } from "../src/top-keys/top-keys.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with node --expose-gc");

const LIMITERS = 1000;
let nowMs = 0;

function fill(top: TopKeys, minutes: number, limiters: number): void {
  for (let l = 0; l < limiters; l++) {
    for (let m = 0; m < minutes; m++) {
      nowMs = m * 60_000;
      for (let i = 0; i < top.counters * 4; i++) {
        top.record(`lim${l}`, `tenant:${String(l).padStart(4, "0")}:${String(i).padStart(18, "0")}`, false);
      }
    }
  }
}

fill(new TopKeys({ now: () => nowMs }), 5, 10); // warm-up: compiled code and shapes out of the measure
// Every instance stays alive to the end, so each measure is a difference of live heaps only.
const kept: TopKeys[] = [];
for (const [counters, minutes] of [
  [16, 5],
  [32, 5],
  [64, 5],
  [32, 10],
] as const) {
  for (let i = 0; i < 3; i++) gc();
  const before = process.memoryUsage().heapUsed;
  const top = new TopKeys({ counters, minutes, maxLimiters: LIMITERS, now: () => nowMs });
  fill(top, minutes, LIMITERS);
  kept.push(top);
  for (let i = 0; i < 3; i++) gc();
  const perLimiter = (process.memoryUsage().heapUsed - before) / LIMITERS;
  console.log(
    `counters=${counters} minutes=${minutes}: ${(perLimiter / 1024).toFixed(1)} KiB per limiter (${kept.at(-1)?.limiters().length} tracked)`,
  );
}
