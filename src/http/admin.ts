import { Hono, type Context } from "hono";
import * as z from "zod/mini";
import { isAdmin } from "./admin-auth";
import type { Config, ConfigResult } from "../config/config";
import type { GatewayEnv } from "../env";
import { parseIdempotencyKey } from "../core/idempotency-key";
import { keyIdentity } from "../core/key-identity";
import { recordHolder } from "../coordinator/locate";
import {
  PROBLEM_SPECS,
  problemResponse,
  type GatewayProblem,
  type ProblemCode,
} from "../core/problems";

/** The gateway's own endpoints, under `/__idempotency/`: never proxied. */
export const ADMIN_PREFIX = "/__idempotency";

type AdminEnv = { Bindings: GatewayEnv; Variables: { configResult: ConfigResult } };

/** Body of lookup and purge: the key as the client sent it, and the client's scope values. */
const keyRequest = z.object({
  key: z.string(),
  scope: z._default(z.record(z.string(), z.string()), {}),
  includeResponse: z._default(z.boolean(), false),
});

/**
 * Routes of the admin prefix: health, the problem type documents, and — only when the
 * `ADMIN_TOKEN` secret is set — key lookup and purge. Unknown paths are `404`.
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
    if (!Object.hasOwn(PROBLEM_SPECS, code)) return problemResponse({ code: "not-found" });
    const spec = PROBLEM_SPECS[code as ProblemCode];
    return c.json({ code, status: spec.status, title: spec.title, errorType: spec.errorType });
  });

  admin.post("/keys/:action{lookup|purge}", async (c) => {
    const token = c.env.ADMIN_TOKEN;
    // Without the secret, the endpoints do not exist (README, "Operating it").
    if (token === undefined || token === "") return problemResponse({ code: "not-found" });
    const action = c.req.param("action") as "lookup" | "purge";
    const audit = (result: string, keyHash?: string) =>
      console.log(JSON.stringify({ event: "admin", action, result, keyHash }));
    if (!(await isAdmin(c.req.header("authorization") ?? null, token))) {
      audit("unauthorized");
      return problemResponse({ code: "admin-unauthorized" });
    }
    const result = c.get("configResult");
    if (!result.ok) return problemResponse({ code: "invalid-configuration", ...result.error });
    const target = await resolveKey(c, result.config);
    if ("problem" in target) {
      audit("invalid");
      return problemResponse(target.problem);
    }
    const stub = await recordHolder(c.env.COORDINATOR, target.identity, result.config);
    const keyHash = target.identity.slice(0, 32);
    if (action === "lookup") {
      const record = await stub.lookup(target.identity, target.includeResponse);
      audit(record === null ? "not-found" : "found", keyHash);
      if (record === null) return problemResponse({ code: "key-not-found" });
      const { response, ...view } = record;
      return c.json({
        keyHash,
        ...view,
        createdAt: new Date(view.createdAt).toISOString(),
        expiresAt: new Date(view.expiresAt).toISOString(),
        ...(response !== undefined
          ? {
              response: {
                status: response.status,
                headers: response.headers,
                bodyBase64: toBase64(new Uint8Array(response.body)),
              },
            }
          : {}),
      });
    }
    const outcome = await stub.purge(target.identity);
    audit(outcome, keyHash);
    if (outcome === "absent") return problemResponse({ code: "key-not-found" });
    if (outcome === "in-flight") {
      return problemResponse({ code: "request-in-progress", retryAfterSeconds: 1 });
    }
    return c.json({ keyHash, purged: true });
  });

  return admin;
}

async function resolveKey(
  c: Context<AdminEnv>,
  config: Config,
): Promise<{ identity: string; includeResponse: boolean } | { problem: GatewayProblem }> {
  let json: unknown;
  try {
    json = await c.req.json();
  } catch {
    return invalid('The body must be JSON: { "key": "…", "scope": { … } }.');
  }
  const body = keyRequest.safeParse(json);
  if (!body.success) {
    const issue = body.error.issues[0];
    return invalid(`${issue?.path.join(".") || "body"}: ${issue?.message ?? "is invalid"}`);
  }
  const parsed = parseIdempotencyKey(body.data.key);
  if (parsed.kind !== "key") {
    return invalid(parsed.kind === "invalid" ? parsed.reason : "key must not be empty");
  }
  const scope = new Map(
    Object.entries(body.data.scope).map(([name, value]) => [name.toLowerCase(), value]),
  );
  const identity = await keyIdentity(
    config.scopeHeaders,
    (name) => scope.get(name) ?? null,
    parsed.key,
  );
  return { identity, includeResponse: body.data.includeResponse };
}

function invalid(detail: string): { problem: GatewayProblem } {
  return { problem: { code: "invalid-admin-request", detail } };
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
