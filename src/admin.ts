import { Hono } from "hono";
import type { ConfigResult } from "./config";
import { PROBLEM_SPECS, problemResponse, type ProblemCode } from "./problems";

/** The gateway's own endpoints, under `/__idempotency/`: never proxied. */
export const ADMIN_PREFIX = "/__idempotency";

type AdminEnv = { Bindings: Env; Variables: { configResult: ConfigResult } };

/**
 * Routes of the admin prefix: health and the problem type documents. Unknown paths are `404`.
 */
export function adminRoutes(): Hono<AdminEnv> {
  const admin = new Hono<AdminEnv>();

  admin.get("/health", (c) => {
    const result = c.get("configResult");
    if (!result.ok) {
      return problemResponse({ code: "invalid-configuration", ...result.error });
    }
    return c.json({ status: "ok" }, 200, { "cache-control": "no-store" });
  });

  // RFC 9457 §3.1.1: a problem `type` should resolve to documentation for humans.
  admin.get("/problems/:code", (c) => {
    const code = c.req.param("code");
    if (!Object.hasOwn(PROBLEM_SPECS, code)) return c.notFound();
    const spec = PROBLEM_SPECS[code as ProblemCode];
    return c.json({ code, status: spec.status, title: spec.title, errorType: spec.errorType });
  });

  return admin;
}
