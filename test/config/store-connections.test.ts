/**
 * How a remote store connects, as the config says it: `sentinels` + `name`, `tls`, or `client` (a connection
 * handed over in code). Parsed into the store config, shown by `rate-sync check` with secrets masked, and a
 * reload that names a client never given is refused with the running config kept.
 */

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeConfig } from "../../src/config/describe.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { RateSync } from "../../src/core/rate-sync.ts";
import { isConfigError } from "../../src/errors.ts";

const toml = `
[stores.ha]
engine = "redis"
sentinels = ["10.0.0.1:26379", "[::1]:26380"]
name = "mymaster"
sentinel_password = "sentinel-secret"
password = "master-secret"
tls = { ca = "/etc/ssl/ca.pem", servername = "cache.internal" }

[stores.shared]
engine = "postgres"
client = "app"
table_name = "limits"

[limiters.api]
store = "ha"
rate = "10/s"
`;

describe("store connections in the config", () => {
  it("parses sentinels, name, tls and client into the store config", () => {
    const snapshot = parseConfigText(toml);
    expect(snapshot.stores.get("ha")).toMatchObject({
      engine: "redis",
      sentinel: {
        sentinels: [
          { host: "10.0.0.1", port: 26379 },
          { host: "::1", port: 26380 },
        ],
        name: "mymaster",
        password: "sentinel-secret",
      },
      tls: { caFile: "/etc/ssl/ca.pem", servername: "cache.internal", rejectUnauthorized: true },
    });
    expect(snapshot.stores.get("ha")).not.toHaveProperty("url");
    expect(snapshot.stores.get("shared")).toMatchObject({
      engine: "postgres",
      client: "app",
      tableName: "limits",
    });
  });

  it("check shows how each store connects, with both passwords masked", () => {
    const text = describeConfig(parseConfigText(toml));
    expect(text).toContain('sentinels=10.0.0.1:26379,[::1]:26380 name="mymaster"');
    expect(text).toContain("sentinel_password=****");
    expect(text).toContain("tls=on ca=/etc/ssl/ca.pem servername=cache.internal");
    expect(text).toContain('client="app"');
    expect(text).not.toContain("secret");
  });

  it("refuses an unknown tls key and a tls that is not true, false or a table", () => {
    const message = (tls: string) => {
      try {
        parseConfigText(`[stores.r]\nengine = "redis"\nurl = "rediss://x"\ntls = ${tls}\n`);
        return "";
      } catch (error) {
        return (error as Error).message;
      }
    };
    expect(message('{ cafile = "x" }')).toContain('stores.r.tls: unknown key "cafile"');
    expect(message('"yes"')).toContain("expected true, false or a table");
    expect(message('{ cert = "client.pem" }')).toContain("stores.r.tls: cert and key go together");
    expect(message('{ cert = "client.pem", key = "client.key" }')).toBe("");
    expect(message("false")).toBe("");
  });

  it("a reload naming a client that was never given is refused, and the running config stays", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rate-sync-clients-"));
    const file = join(dir, "rate-sync.toml");
    writeFileSync(file, `[limiters.api]\nrate = "10/s"\n`);
    const rs = await RateSync.fromFile(file, { quiet: true });
    try {
      writeFileSync(
        file,
        `[stores.main]\nengine = "redis"\nclient = "cache"\n\n[limiters.api]\nstore = "main"\nrate = "10/s"\n`,
      );
      const error = await rs.reload().catch((e: unknown) => e);
      expect(isConfigError(error)).toBe(true);
      expect((error as Error).message).toContain('stores.main.client: no client "cache" was given');
      expect(rs.snapshot.stores.has("main")).toBe(false);
      expect((await rs.tryAcquire("api")).allowed).toBe(true);
    } finally {
      await rs.close();
    }
  });
});

describe("[overrides] on a store with an injected client", () => {
  it("is refused: overrides open connections of their own", () => {
    const text = `
[stores.shared]
engine = "redis"
client = "app"

[overrides]
store = "shared"

[limiters.api]
rate = "10/s"
`;
    expect(() => parseConfigText(text)).toThrow(
      /overrides\.store: store "shared" runs on an injected client \(client = …\), which cannot hold overrides/,
    );
  });
});
