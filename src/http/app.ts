import { Hono } from "hono";
import { ADMIN_PREFIX, adminRoutes } from "./admin";
import { configFor, type ConfigResult } from "../config/config";
import { invalidConfiguration } from "./config-problem";
import type { GatewayEnv } from "../env";
import { handleApiRequest } from "./gateway";
import { keyHashingFor } from "./key-hashing";
import { metricsFor } from "./metrics";
import { problemResponse } from "../core/problems";
import { HOP_HEADER } from "../core/header-names";
import { hopMarker } from "./hop";

type AppEnv = { Bindings: GatewayEnv; Variables: { configResult: ConfigResult } };

/**
 * The gateway's HTTP surface: admin routes under `/__idempotency/`, everything else to the
 * idempotency protocol. One `onError` turns any unexpected throw into a logged 500 problem (`internal-error`) — never
 * a 4xx, which would tell a client its request was wrong.
 */
export function createApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use(async (c, next) => {
    c.set("configResult", configFor(c.env));
    await next();
  });

  app.route(ADMIN_PREFIX, adminRoutes());
  app.all(`${ADMIN_PREFIX}/*`, () => problemResponse({ code: "not-found" }));

  app.all("*", (c) => {
    const result = c.get("configResult");
    if (!result.ok) return invalidConfiguration(result.error);
    const hop = hopMarker(c.env.COORDINATOR);
    // Only this deployment's own marker means a loop: a client cannot raise the alarm.
    if (c.req.header(HOP_HEADER) === hop) {
      return invalidConfiguration({
        variable: "ORIGIN_URL",
        detail: "routes back to this gateway; point it at a host no gateway route matches",
      });
    }
    return handleApiRequest(c.req.raw, {
      config: result.config,
      metrics: metricsFor(c.env.METRICS),
      keyHashing: keyHashingFor(c.env),
      coordinators: c.env.COORDINATOR,
      hop,
      waitUntil: (promise) => c.executionCtx.waitUntil(promise),
    });
  });

  app.onError((error) => {
    console.error(JSON.stringify({ event: "unexpected-error", error: String(error) }));
    return problemResponse({ code: "internal-error" });
  });

  return app;
}
