import type { Config } from "../config/config";
import type { Settings } from "../config/settings";
import type { IdempotencyCoordinator } from "../coordinator/coordinator";
import type { Answer, ExecuteCommand, Policy } from "../coordinator/protocol";
import { fingerprint } from "../core/fingerprint";
import { parseIdempotencyKey } from "../core/idempotency-key";
import { keyIdentity } from "../core/key-identity";
import { logRequest, type RequestLog } from "./log";
import type { Metrics } from "./metrics";
import { settingsFor } from "../config/routes";
import { coordinatorFor } from "../coordinator/locate";
import { problemResponse, type GatewayProblem } from "../core/problems";
import { HOP_HEADER, originTarget, passThrough } from "./pass-through";
import { readBounded } from "../core/bounded-body";
import { endToEndHeaders } from "../core/http-headers";
import { REPLAYED_HEADER, toResponse } from "../core/stored-response";

/** What the gateway needs from its environment to handle a request. */
export interface GatewayDeps {
  config: Config;
  metrics: Metrics;
  coordinators: DurableObjectNamespace<IdempotencyCoordinator>;
  /** Keeps the coordinator call alive if the client disconnects. */
  waitUntil: (promise: Promise<unknown>) => void;
}

/**
 * Handles one request to the origin's API: pass-through for uncovered requests, the idempotency
 * protocol for covered ones.
 */
export async function handleApiRequest(request: Request, deps: GatewayDeps): Promise<Response> {
  const { config } = deps;
  const url = new URL(request.url);
  const settings = settingsFor(config, url.pathname);
  if (!settings.methods.has(request.method)) return passThrough(request, config.originUrl);
  const started = Date.now();
  const method = request.method;
  const report = (line: RequestLog) => {
    if (config.requestLogs) logRequest(line);
    deps.metrics.count(line);
  };
  const refuse = (outcome: "invalid" | "too-large" | "missing-key", problem: GatewayProblem) => {
    const response = problemResponse(problem);
    report({ outcome, method, status: response.status, gatewayMs: Date.now() - started });
    return response;
  };

  const parsed = parseIdempotencyKey(request.headers.get("idempotency-key"));
  if (parsed.kind === "missing") {
    if (!settings.keyRequired) return passThrough(request, config.originUrl);
    return refuse("missing-key", { code: "missing-idempotency-key" });
  }
  if (parsed.kind === "invalid") {
    return refuse("invalid", { code: "invalid-idempotency-key", detail: parsed.reason });
  }
  const body = await readBounded(
    request.body,
    request.headers.get("content-length"),
    settings.maxBodyBytes,
  );
  if (body === null) {
    return refuse("too-large", { code: "request-too-large", limitBytes: settings.maxBodyBytes });
  }

  const [identity, print] = await Promise.all([
    keyIdentity(config.scopeHeaders, (name) => request.headers.get(name), parsed.key),
    fingerprint({ method, path: url.pathname, query: url.search.slice(1), body }),
  ]);
  const headers = endToEndHeaders(request.headers).filter(([name]) => name !== "idempotency-key");
  // The origin gets the key in its bare form, the one Stripe-style APIs parse.
  headers.push(["idempotency-key", parsed.key], [HOP_HEADER, "1"]);
  const command: ExecuteCommand = {
    identity,
    fingerprint: print,
    request: {
      url: originTarget(config.originUrl, url),
      method,
      headers,
      body: request.body === null ? null : body,
    },
    policy: policyFor(settings, config.originUrl),
  };

  const pending = execute(deps.coordinators, identity, config, command);
  deps.waitUntil(pending);
  const answer = await pending;
  const response = toHttp(answer);
  report({
    outcome: answer.outcome,
    keyHash: identity.slice(0, 32),
    method,
    status: response.status,
    ...(answer.kind === "response" && answer.originStatus !== undefined
      ? { originStatus: answer.originStatus }
      : {}),
    gatewayMs: Date.now() - started,
    ...(answer.originMs !== undefined ? { originMs: answer.originMs } : {}),
  });
  return response;
}

function policyFor(settings: Settings, originUrl: string): Policy {
  return {
    ttlSeconds: settings.ttlSeconds,
    concurrency: settings.concurrency,
    waitMs: settings.waitMs,
    originTimeoutMs: settings.originTimeoutMs,
    retryStatuses: settings.retryStatuses,
    maxResponseBytes: settings.maxResponseBytes,
    originUrl,
  };
}

/**
 * Calls the coordinator, retrying once with a fresh stub when the runtime says the call may be
 * retried (`retryable`, not `overloaded`: platform-notes §1.5). A retry is safe: the object owns
 * the record, so a retried call joins, replays or refuses — it never forwards twice.
 */
async function execute(
  namespace: GatewayDeps["coordinators"],
  identity: string,
  config: Config,
  command: ExecuteCommand,
): Promise<Answer> {
  const attempt = async () => {
    const stub = await coordinatorFor(namespace, identity, config);
    // RPC's declared return type widens tuples ([name, value] becomes string[]); the value is
    // the coordinator's own `Answer`.
    return (await stub.execute(command)) as Answer;
  };
  try {
    return await attempt();
  } catch (error) {
    if (!isRetryable(error)) throw error;
    // A stub that threw is broken: `attempt` makes a new one.
    return await attempt();
  }
}

function isRetryable(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const flags = error as { retryable?: unknown; overloaded?: unknown };
  return flags.retryable === true && flags.overloaded !== true;
}

function toHttp(answer: Answer): Response {
  if (answer.kind === "response") return toResponse(answer.response, answer.replayed);
  return problemResponse(answer.problem, answer.replayed ? [[REPLAYED_HEADER, "true"]] : []);
}
