import { Hono } from "hono";
import { ADMIN_PREFIX, adminRoutes } from "./admin";
import { configFor, type ConfigResult } from "./config";
import type { GatewayEnv } from "./env";
import { handleApiRequest } from "./gateway";
import { metricsFor } from "./metrics";
import { problemResponse } from "./problems";
import { HOP_HEADER } from "./proxy";

type AppEnv = { Bindings: GatewayEnv; Variables: { configResult: ConfigResult } };

/** The Worker's fetch handler. */
export interface App {
  fetch(request: Request, env: GatewayEnv, ctx: ExecutionContext): Promise<Response>;
}

/**
 * The gateway's HTTP surface: the Hono admin routes under `/__idempotency/`, everything else to
 * the idempotency protocol. The API path is every request but the gateway's own, so it skips the
 * router (issue 3: framework overhead on the hot path). Any unexpected throw becomes a logged,
 * plain 500 — never a 4xx, which would tell a client its request was wrong.
 */
export function createApp(): App {
  const admin = adminApp();
  return {
    async fetch(request, env, ctx) {
      const url = new URL(request.url);
      if (url.pathname.startsWith(`${ADMIN_PREFIX}/`)) return admin.fetch(request, env, ctx);
      try {
        return await api(request, url, env, ctx);
      } catch (error) {
        return unexpected(error);
      }
    },
  };
}

function api(request: Request, url: URL, env: GatewayEnv, ctx: ExecutionContext) {
  const result = configFor(env);
  if (!result.ok) return invalidConfiguration(result.error);
  if (request.headers.has(HOP_HEADER)) {
    return invalidConfiguration({
      variable: "ORIGIN_URL",
      detail: "routes back to this gateway; point it at a host no gateway route matches",
    });
  }
  return handleApiRequest(request, url, {
    config: result.config,
    metrics: metricsFor(env.METRICS),
    coordinators: env.COORDINATOR,
    waitUntil: (promise) => ctx.waitUntil(promise),
  });
}

function adminApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set("configResult", configFor(c.env));
    await next();
  });
  app.route(ADMIN_PREFIX, adminRoutes());
  app.all("*", (c) => c.json({ error: "not found" }, 404));
  app.onError(unexpected);
  return app;
}

function invalidConfiguration(error: { variable: string; detail: string }): Response {
  console.error(JSON.stringify({ event: "invalid-configuration", ...error }));
  return problemResponse({ code: "invalid-configuration", ...error });
}

function unexpected(error: unknown): Response {
  console.error(JSON.stringify({ event: "unexpected-error", error: String(error) }));
  return new Response("Internal Server Error", {
    status: 500,
    headers: { "content-type": "text/plain" },
  });
}
