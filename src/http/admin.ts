import { Hono, type Context } from "hono";
import { isAdmin } from "./admin-auth";
import { actorOf, audit, type AdminAudit } from "./admin-audit";
import {
  MAX_ADMIN_BODY_BYTES,
  parseListQuery,
  parseResolve,
  parseTarget,
  type Target,
} from "./admin-requests";
import { consoleResponse } from "./console";
import { edgeReplays } from "./edge-replays";
import { metricsFor } from "./metrics";
import type { Config, ConfigResult } from "../config/config";
import { settingsFor } from "../config/routes";
import type { GatewayEnv } from "../env";
import { readBounded } from "../core/bounded-body";
import { KEY_HASH_SECRET, legacyKeyHash } from "../core/key-hash";
import { keyHashingFor } from "./key-hashing";
import { keyIdentity } from "../core/key-identity";
import { encodeCursor } from "../core/record-page";
import { recordHolder } from "../coordinator/locate";
import type { RecordView } from "../coordinator/protocol";
import type { RecordSummary, ResolveResult } from "../coordinator/admin-protocol";
import type { IdempotencyCoordinator } from "../coordinator/coordinator";
import { findByKeyHash, readPage, recordObjects } from "../coordinator/record-finder";
import { storageReport } from "../coordinator/storage-report";
import {
  PROBLEM_SPECS,
  problemResponse,
  type GatewayProblem,
  type ProblemCode,
} from "../core/problems";

/** The gateway's own endpoints, under `/__idempotency/`: never proxied. */
export const ADMIN_PREFIX = "/__idempotency";

type AdminEnv = { Bindings: GatewayEnv; Variables: { configResult: ConfigResult } };
type AdminContext = Context<AdminEnv>;
type Action = AdminAudit["action"];
type Stub = DurableObjectStub<IdempotencyCoordinator>;

/** An authorised admin call: the configuration, who made it, and how to record what came of it. */
interface Call {
  config: Config;
  /** The keyed key hash of an identity, as the Worker logs it (`KEY_HASH_SECRET`). */
  keyHash(identity: string): Promise<string>;
  /** Logs and counts the outcome (with the operator's actor hash), and answers `response`. */
  finish(response: Response, line: Omit<AdminAudit, "action" | "status" | "actor">): Response;
}

/**
 * Routes of the admin prefix: health, the problem type documents, and — only when the
 * `ADMIN_TOKEN` secret is set — the key endpoints and the operator console (docs/operations.md, "Operating
 * it"). Unknown paths are `404`.
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

  // The page holds no secret: the operator pastes the token, and every call it makes is
  // authorised like any other. Like the API, it does not exist without the secret.
  admin.get("/console", (c) => (adminToken(c) === null ? notFound() : consoleResponse()));

  admin.get("/keys", async (c) => {
    const call = await authorize(c, "list");
    if (call instanceof Response) return call;
    const query = parseListQuery(new URL(c.req.url).searchParams);
    if (!query.ok) return call.finish(invalid(query.detail), { result: "invalid" });
    const objects = recordObjects(call.config);
    if (objects === null) {
      return call.finish(problemResponse({ code: "sharding-required" }), {
        result: "unsupported",
      });
    }
    const { state, limit, cursor } = query.value;
    if (cursor !== null && (cursor.state !== state || cursor.mapping !== objects.mapping)) {
      const detail =
        "cursor: it continues another listing (another state, or the key mapping has changed since); list again without it.";
      return call.finish(invalid(detail), { result: "invalid" });
    }
    const page = await readPage(c.env.COORDINATOR, objects, { state, limit, cursor });
    return call.finish(
      json({
        records: page.records.map(summaryJson),
        cursor: page.cursor === null ? null : encodeCursor(page.cursor),
      }),
      { result: "listed" },
    );
  });

  // How full each object is (docs/security.md, "Bounds"): for sizing shards before any key is refused.
  admin.get("/storage", async (c) => {
    const call = await authorize(c, "storage");
    if (call instanceof Response) return call;
    const objects = recordObjects(call.config);
    if (objects === null) {
      return call.finish(problemResponse({ code: "sharding-required" }), {
        result: "unsupported",
      });
    }
    const report = await storageReport(c.env.COORDINATOR, objects, call.config.storageLimitBytes);
    return call.finish(json(report), { result: "listed" });
  });

  admin.post("/keys/:action{lookup|purge|resolve}", async (c) => {
    const action = c.req.param("action") as "lookup" | "purge" | "resolve";
    const call = await authorize(c, action);
    if (call instanceof Response) return call;
    const body = await readJson(c);
    if (!body.ok) return call.finish(body.response, { result: "invalid" });

    if (action === "resolve") return resolve(c, call, body.json);
    const request = parseTarget(body.json);
    if (!request.ok) return call.finish(invalid(request.detail), { result: "invalid" });
    const found = await locate(c, call.config, request.value.target);
    if (found.kind === "refused") return call.finish(found.response, { result: found.result });
    const { identity, stub } = found;
    // The hash the operator named, or the one this key's requests are logged with now.
    const { target } = request.value;
    const keyHash = target.by === "keyHash" ? target.keyHash : await call.keyHash(identity);

    if (action === "lookup") {
      // RPC's declared return types widen tuples ([name, value] becomes string[]); the value is
      // the coordinator's own `RecordView`.
      const view = (await stub.lookup(
        identity,
        request.value.includeResponse,
      )) as RecordView | null;
      if (view === null) return call.finish(keyNotFound(), { result: "not-found", keyHash });
      // Disclosing a stored body is recorded as such in the audit trail.
      const disclosed = view.response !== undefined ? { disclosed: true as const } : {};
      return call.finish(json(viewJson(identity, view)), {
        result: "found",
        keyHash,
        ...disclosed,
      });
    }
    // The key stays held while another Worker may replay the purged answer (docs/adr/0008).
    const outcome = await stub.purge(identity, call.config.edgeReplaySeconds * 1000);
    // This isolate stops replaying the answer at once; others within their edge replay bound.
    if (outcome === "purged") edgeReplays.forget(identity);
    if (outcome === "absent") return call.finish(keyNotFound(), { result: "not-found", keyHash });
    if (outcome === "in-flight") {
      const refused = problemResponse({ code: "request-in-progress", retryAfterSeconds: 1 });
      return call.finish(refused, { result: "in-flight", keyHash, state: "in_flight" });
    }
    return call.finish(json({ keyHash, purged: true }), {
      result: "purged",
      keyHash,
      state: "none",
    });
  });

  return admin;
}

/**
 * Stores the answer an operator confirmed at the origin as the record's answer (README,
 * "Reconciling an unknown outcome"), under the limits an origin answer of the record's route gets.
 */
async function resolve(c: AdminContext, call: Call, body: unknown): Promise<Response> {
  const request = parseResolve(body);
  if (!request.ok) return call.finish(invalid(request.detail), { result: "invalid" });
  const found = await locate(c, call.config, request.value.target);
  if (found.kind === "refused") return call.finish(found.response, { result: found.result });
  const { identity, stub } = found;
  const { target } = request.value;
  const keyHash = target.by === "keyHash" ? target.keyHash : await call.keyHash(identity);
  const current = await stub.lookup(identity);
  if (current === null) return call.finish(keyNotFound(), { result: "not-found", keyHash });
  const { response } = request.value;
  // The record's route decides, as it did for the origin's answer; records older than the path
  // column fall under the global settings.
  const settings =
    current.path === null || current.path === undefined
      ? call.config
      : settingsFor(call.config, current.path);
  if (settings.retryStatuses.includes(response.status)) {
    const detail = `response.status: ${response.status} is in IDEMPOTENCY_RETRY_STATUSES, which means nothing happened at the origin and releases the key. Purge the record instead.`;
    return call.finish(invalid(detail), { result: "invalid", keyHash });
  }
  if (response.body.byteLength > settings.maxResponseBytes) {
    const detail = `response body: ${response.body.byteLength} bytes, over IDEMPOTENCY_MAX_RESPONSE_BYTES (${settings.maxResponseBytes}) for this record's route.`;
    return call.finish(invalid(detail), { result: "invalid", keyHash });
  }
  // As for lookup: the value is the coordinator's own `ResolveResult`, its tuples widened by RPC.
  const result = (await stub.resolve(identity, response)) as ResolveResult;
  switch (result.kind) {
    case "absent":
      return call.finish(keyNotFound(), { result: "not-found", keyHash });
    case "not-unknown":
      return call.finish(problemResponse({ code: "record-not-unknown", state: result.state }), {
        result: "not-unknown",
        keyHash,
        state: result.state,
      });
    case "resolved":
      edgeReplays.forget(identity);
      return call.finish(json(viewJson(identity, result.view)), {
        result: "resolved",
        keyHash,
        state: result.view.state,
      });
  }
}

/**
 * Checks the admin token and the configuration. Without the secret the endpoints do not exist
 * (`404`); a wrong or missing token is `401`, logged and counted.
 */
async function authorize(c: AdminContext, action: Action): Promise<Call | Response> {
  const token = adminToken(c);
  if (token === null) return notFound();
  const metrics = metricsFor(c.env.METRICS);
  // A short token can be guessed; the admin API discloses and purges answers, so it refuses to
  // run on one rather than check it. The payment path is not affected.
  if (token.length < MIN_ADMIN_TOKEN_LENGTH) {
    const response = problemResponse({
      code: "invalid-configuration",
      variable: "ADMIN_TOKEN",
      detail: `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters (e.g. \`openssl rand -hex 32\`); the admin API is off until it is`,
    });
    audit({ action, result: "weak-token", status: response.status }, metrics);
    return response;
  }
  if (!(await isAdmin(c.req.header("authorization") ?? null, token))) {
    const response = problemResponse({ code: "admin-unauthorized" });
    audit({ action, result: "unauthorized", status: response.status }, metrics);
    return response;
  }
  // Without a key hash secret the admin API could name records only by unkeyed hashes, which
  // anyone who reads its audit lines could check a guessed key against: it refuses to run, as
  // for a weak token. The payment path is not affected (docs/operations.md).
  const hashing = keyHashingFor(c.env);
  if (hashing.kind === "off") {
    const response = problemResponse({
      code: "invalid-configuration",
      variable: KEY_HASH_SECRET,
      detail: `${hashing.detail}; the admin API is off until it is set (\`wrangler secret put ${KEY_HASH_SECRET}\`)`,
    });
    audit({ action, result: "no-key-hash-secret", status: response.status }, metrics);
    return response;
  }
  const result = c.get("configResult");
  if (!result.ok) return problemResponse({ code: "invalid-configuration", ...result.error });
  const actor = await actorOf(token);
  return {
    config: result.config,
    keyHash: hashing.hash,
    finish(response, line) {
      audit({ action, status: response.status, actor, ...line }, metrics);
      return response;
    },
  };
}

/** The record a target names, and the object that holds it; or the answer refusing it. */
type Located =
  | { kind: "found"; identity: string; stub: Stub }
  | { kind: "refused"; response: Response; result: string };

async function locate(c: AdminContext, config: Config, target: Target): Promise<Located> {
  if (target.by === "key") {
    const identity = await keyIdentity(
      config.scopeHeaders,
      (name) => target.scope.get(name) ?? null,
      target.key,
    );
    const stub = await recordHolder(c.env.COORDINATOR, identity, config);
    return { kind: "found", identity, stub };
  }
  const match = await findByKeyHash(c.env.COORDINATOR, config, target.keyHash);
  switch (match.kind) {
    case "found":
      return match;
    case "absent":
      return { kind: "refused", response: keyNotFound(), result: "not-found" };
    case "ambiguous":
      return {
        kind: "refused",
        response: problemResponse({ code: "key-hash-ambiguous" }),
        result: "ambiguous",
      };
    case "unsupported":
      return {
        kind: "refused",
        response: problemResponse({ code: "sharding-required" }),
        result: "unsupported",
      };
  }
}

/** The request body as JSON, read under `MAX_ADMIN_BODY_BYTES`. */
async function readJson(
  c: AdminContext,
): Promise<{ ok: true; json: unknown } | { ok: false; response: Response }> {
  const bytes = await readBounded(
    c.req.raw.body,
    c.req.header("content-length") ?? null,
    MAX_ADMIN_BODY_BYTES,
    { drain: true },
  );
  if (bytes === null) {
    const response = problemResponse({
      code: "request-too-large",
      limitBytes: MAX_ADMIN_BODY_BYTES,
    });
    return { ok: false, response };
  }
  try {
    return { ok: true, json: JSON.parse(new TextDecoder().decode(bytes)) };
  } catch {
    const detail = 'The body must be JSON: { "keyHash": "…" }, or { "key": "…", "scope": { … } }.';
    return { ok: false, response: invalid(detail) };
  }
}

/** The shortest admin token the admin API accepts to run with (docs/operations.md, "Operating it"). */
export const MIN_ADMIN_TOKEN_LENGTH = 32;

function adminToken(c: AdminContext): string | null {
  const token = c.env.ADMIN_TOKEN;
  return token === undefined || token === "" ? null : token;
}

/** A record as listed: the fields the README names, and never a body, header or credential. */
function summaryJson(record: RecordSummary): Record<string, unknown> {
  return {
    // The hash its claim was logged with; the identity's prefix for records claimed without one.
    keyHash: record.keyHash ?? legacyKeyHash(record.identity),
    state: record.state,
    method: record.method,
    path: record.path,
    createdAt: new Date(record.createdAt).toISOString(),
    expiresAt: new Date(record.expiresAt).toISOString(),
    status: record.status,
    detail: record.detail,
  };
}

/** A record as looked up, purged or resolved; the stored answer only when asked for. */
function viewJson(identity: string, view: RecordView): Record<string, unknown> {
  const { response } = view;
  return {
    keyHash: view.keyHash ?? legacyKeyHash(identity),
    state: view.state,
    fingerprint: view.fingerprint,
    method: view.method ?? null,
    path: view.path ?? null,
    status: view.status,
    bodyBytes: view.bodyBytes,
    createdAt: new Date(view.createdAt).toISOString(),
    expiresAt: new Date(view.expiresAt).toISOString(),
    detail: view.detail,
    resolvedAt:
      view.resolvedAt === null || view.resolvedAt === undefined
        ? null
        : new Date(view.resolvedAt).toISOString(),
    reforwardedAt: isoOrNull(view.reforwardedAt),
    ...(response !== undefined
      ? {
          response: {
            status: response.status,
            headers: response.headers,
            bodyBase64: toBase64(new Uint8Array(response.body)),
          },
        }
      : {}),
  };
}

/** A time (ms since epoch) as ISO 8601; absent (older objects) or `null` as `null`. */
function isoOrNull(at: number | null | undefined): string | null {
  return at === null || at === undefined ? null : new Date(at).toISOString();
}

function json(body: unknown): Response {
  return new Response(JSON.stringify(body), {
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}

function invalid(detail: string): Response {
  return problemResponse({ code: "invalid-admin-request", detail } satisfies GatewayProblem);
}

function keyNotFound(): Response {
  return problemResponse({ code: "key-not-found" });
}

function notFound(): Response {
  return problemResponse({ code: "not-found" });
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
