/**
 * The piece-by-piece load of a reload (#13): for a file without issues it gives the very snapshot the whole-file
 * load gives; for anything else it gives up (`undefined`), and the reload then loads the file as a whole. Cut
 * every two tables here, so small files make many pieces.
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { limiterFile } from "../../bench/config-load.ts";
import { parseConfigFileText, parseConfigText } from "../../src/config/load.ts";
import { loadConfig } from "../../src/config/load-file.ts";
import { THREAD_PARSE_FROM } from "../../src/config/load-sliced.ts";
import { streamedSnapshot } from "../../src/config/load-streamed.ts";
import { limiterSplitPointsSteps } from "../../src/config/split-points.ts";
import { runSync } from "../../src/config/steps.ts";
import type { ConfigSnapshot } from "../../src/config/types.ts";
import { snapshotJson } from "../helpers/snapshots.ts";

const env = { STREAMED_RATE: "9/s" };

async function streamed(text: string): Promise<ConfigSnapshot | undefined> {
  const cuts = runSync(limiterSplitPointsSteps(text, 2));
  expect(cuts.length).toBeGreaterThanOrEqual(2);
  return streamedSnapshot(text, cuts, "<config>", env);
}

const HEAD = `allow_no_limiters = false

[stores.main]
engine = "memory"

[defaults]
store = "main"
on_store_error = "deny"
`;

describe("streamedSnapshot", () => {
  it("gives the whole-file snapshot, in file order, for ids, values and sub-tables of every kind", async () => {
    const text = `${HEAD}
[limiters."api:<tenant>"]
rate = "7/s"
burst = 14

[limiters.'login']
algorithm = "sliding_window"
limit = 5
window = "5m"

[limiters.__proto__]
rate = "3/s"

[limiters.env]
rate = "\${STREAMED_RATE}"

[limiters.multi]
limits = [
  { rate = "1/s" },
  { limit = 100, algorithm = "fixed_window", window = "1h" },
]

[limiters.jobs]
max_concurrent = 4
lease = "30s"

[limiters.zeta]
rate = "1/m"
`;
    const snapshot = await streamed(text);
    expect(snapshot).toBeDefined();
    expect(snapshotJson(snapshot!)).toBe(snapshotJson(parseConfigText(text, { env })));
    expect([...snapshot!.limiters.keys()]).toEqual([
      "api:<tenant>",
      "login",
      "__proto__",
      "env",
      "multi",
      "jobs",
      "zeta",
    ]);
    expect(snapshot!.limiters.get("env")?.policy.quota).toBe(9);
    expect(Object.isFrozen(snapshot!.limiters.get("jobs"))).toBe(true);
  });

  // Each of these gives up, and the whole-file load decides (here: what it says, error or snapshot).
  const givesUp: [string, string][] = [
    [
      "a sub-table of a limiter in a later piece",
      '[limiters.a]\nrate = "1/s"\n[limiters.b]\nrate = "1/s"\n[limiters.c]\nrate = "1/s"\n[limiters.a.x]\ny = 1\n',
    ],
    [
      "a limiter defined twice",
      '[limiters.a]\nrate = "1/s"\n[limiters.b]\nrate = "1/s"\n[limiters.a]\nrate = "2/s"\n',
    ],
    [
      "a header line inside a multi-line string",
      '[limiters.a]\nrate = "1/s"\n[limiters.b]\nnote = """\n[limiters.c]\n"""\nrate = "1/s"\n[limiters.d]\nrate = "1/s"\n',
    ],
    [
      "limiters in the head",
      'limiters.h.rate = "1/s"\n[limiters.a]\nrate = "1/s"\n[limiters.b]\nrate = "1/s"\n[limiters.c]\nrate = "1/s"\n',
    ],
    [
      "an invalid limiter in the last piece",
      '[limiters.a]\nrate = "1/s"\n[limiters.b]\nrate = "1/s"\n[limiters.c]\nrate = "ten per second"\n',
    ],
    [
      "a variable that is not set",
      '[limiters.a]\nrate = "1/s"\n[limiters.b]\nrate = "1/s"\n[limiters.c]\nrate = "${NOT_SET_ANYWHERE}"\n',
    ],
    [
      "a TOML error in a piece",
      '[limiters.a]\nrate = "1/s"\n[limiters.b]\nrate = "1/s"\n[limiters.c]\nrate = "1/s\n',
    ],
    [
      "an array-index id in a sub-table header",
      '[limiters.a]\nrate = "1/s"\n[limiters.b]\nrate = "1/s"\n[limiters.7.x]\ny = 1\n[limiters.c]\nrate = "1/s"\n',
    ],
    [
      "an invalid head",
      '[defaults]\nstore = "nowhere"\n[limiters.a]\nrate = "1/s"\n[limiters.b]\nrate = "1/s"\n[limiters.c]\nrate = "1/s"\n',
    ],
  ];
  for (const [what, text] of givesUp) {
    it(`gives up on ${what}`, async () => {
      expect(await streamed(text)).toBeUndefined();
    });
  }
});

describe("loadConfig of a large file", () => {
  it("gives what the whole-file load gives, for a valid file and for an invalid one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rate-sync-streamed-"));
    try {
      const file = join(dir, "rate-sync.toml");
      const valid = `${HEAD}${limiterFile(6_000, 3)}`;
      expect(valid.length).toBeGreaterThan(THREAD_PARSE_FROM);
      writeFileSync(file, valid);
      const loaded = await loadConfig(file);
      expect(loaded?.file).toBe(file);
      expect(snapshotJson(loaded!)).toBe(snapshotJson(parseConfigFileText(valid, file)));
      const invalid = `${valid}[limiters.bad]\nrate = "ten per second"\n`;
      writeFileSync(file, invalid);
      const message = await loadConfig(file).then(
        () => "loaded",
        (error: Error) => error.message,
      );
      expect(message).toMatch(/limiters\.bad\.rate/);
      expect(() => parseConfigFileText(invalid, file)).toThrow(message);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
