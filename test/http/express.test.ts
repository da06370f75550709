/**
 * The Express adapter against a real server: the shared behaviour suite on memory and Redis.
 */

import type { AddressInfo } from "node:net";
import express from "express";
import { rateLimit } from "../../src/http/express.ts";
import { requireRedis } from "../helpers/stores.ts";
import { type AdapterHarness, defineAdapterSuite, holdMs } from "./harness.ts";

const harness: AdapterHarness = {
  name: "express",
  async start(scenario) {
    const app = express();
    app.use(
      rateLimit({
        rs: scenario.rs,
        key: scenario.key,
        ...(scenario.headers === undefined ? {} : { headers: scenario.headers }),
        ...(scenario.exempt ? { exempt: scenario.exempt } : {}),
        ...(scenario.trustProxy === undefined ? {} : { trustProxy: scenario.trustProxy }),
        ...(scenario.ipv6Subnet === undefined ? {} : { ipv6Subnet: scenario.ipv6Subnet }),
        ...(scenario.wait ? { wait: scenario.wait } : {}),
        ...(scenario.costFromHeader ? { cost: (req) => Number(req.get("x-cost") ?? 1) } : {}),
        ...(scenario.skipFromHeader ? { skip: (req) => req.get("x-skip") === "1" } : {}),
        ...(scenario.userFromHeader ? { user: (req) => req.get("x-user") } : {}),
        ...(scenario.customOnLimited
          ? {
              onLimited: (_req, res, decision) => {
                res.status(418).json({ custom: true, policy: decision.policy.name });
              },
            }
          : {}),
      }),
    );
    app.all("/{*rest}", (req, res) => {
      setTimeout(() => res.send("ok"), holdMs(req.get("x-hold-ms")));
    });
    const server = app.listen(0, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      server.once("listening", resolve);
      server.once("error", reject);
    });
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  },
};

defineAdapterSuite(harness, await requireRedis());
