/**
 * The Hono middleware against a real server (`@hono/node-server`): the shared behaviour suite on memory and
 * Redis.
 */

import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { rateLimit } from "../../src/http/hono.ts";
import { requireRedis } from "../helpers/stores.ts";
import { type AdapterHarness, defineAdapterSuite, holdMs } from "./harness.ts";

const harness: AdapterHarness = {
  name: "hono",
  async start(scenario) {
    const app = new Hono();
    app.use(
      rateLimit({
        rs: scenario.rs,
        key: scenario.key,
        ...(scenario.headers === undefined ? {} : { headers: scenario.headers }),
        ...(scenario.exempt ? { exempt: scenario.exempt } : {}),
        ...(scenario.trustProxy === undefined ? {} : { trustProxy: scenario.trustProxy }),
        ...(scenario.ipv6Subnet === undefined ? {} : { ipv6Subnet: scenario.ipv6Subnet }),
        ...(scenario.wait ? { wait: scenario.wait } : {}),
        ...(scenario.costFromHeader ? { cost: (c) => Number(c.req.header("x-cost") ?? 1) } : {}),
        ...(scenario.skipFromHeader ? { skip: (c) => c.req.header("x-skip") === "1" } : {}),
        ...(scenario.userFromHeader ? { user: (c) => c.req.header("x-user") } : {}),
        ...(scenario.customOnLimited
          ? { onLimited: (c, decision) => c.json({ custom: true, policy: decision.policy.name }, 418) }
          : {}),
      }),
    );
    app.all("*", async (c) => {
      await new Promise((resolve) => setTimeout(resolve, holdMs(c.req.header("x-hold-ms"))));
      return c.text("ok");
    });
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
    });
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          if ("closeAllConnections" in server) server.closeAllConnections();
        }),
    };
  },
};

defineAdapterSuite(harness, await requireRedis());
