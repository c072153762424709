import type { Config } from "../config/config";
import { settingsFor } from "../config/routes";
import type { IdempotencyCoordinator } from "../coordinator/coordinator";
import { executeOnOwner } from "../coordinator/locate";
import { checkMapping } from "../coordinator/mapping-check";
import {
  policyOf,
  type ExecuteCommand,
  type FinalReply,
  type Streamed,
} from "../coordinator/protocol";
import { readBounded } from "../core/bounded-body";
import { fingerprint } from "../core/fingerprint";
import { REPLAYED_HEADER } from "../core/header-names";
import { parseIdempotencyKey } from "../core/idempotency-key";
import { keyIdentity } from "../core/key-identity";
import { originHeaders, originTarget } from "../core/origin-request";
import { problemResponse, type GatewayProblem } from "../core/problems";
import { toResponse } from "../core/stored-response";
import { logRequest, type RequestLog } from "./log";
import type { Metrics } from "./metrics";
import { invalidConfiguration } from "./config-problem";
import { passThrough } from "./pass-through";

/** What the gateway needs from its environment to handle a request. */
export interface GatewayDeps {
  config: Config;
  metrics: Metrics;
  coordinators: DurableObjectNamespace<IdempotencyCoordinator>;
  /** This deployment's hop marker value (`hop.ts`). */
  hop: string;
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
  if (!settings.methods.has(request.method)) {
    return passThrough(request, config.originUrl, deps.hop);
  }
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
    if (!settings.keyRequired) return passThrough(request, config.originUrl, deps.hop);
    return refuse("missing-key", { code: "missing-idempotency-key" });
  }
  if (parsed.kind === "invalid") {
    return refuse("invalid", { code: "invalid-idempotency-key", detail: parsed.reason });
  }
  const body = await readBounded(
    request.body,
    request.headers.get("content-length"),
    settings.maxBodyBytes,
    { drain: true },
  );
  if (body === null) {
    return refuse("too-large", { code: "request-too-large", limitBytes: settings.maxBodyBytes });
  }

  const [identity, print] = await Promise.all([
    keyIdentity(config.scopeHeaders, (name) => request.headers.get(name), parsed.key),
    fingerprint({ method, path: url.pathname, query: url.search.slice(1), body }),
  ]);
  const command: ExecuteCommand = {
    identity,
    fingerprint: print,
    request: {
      url: originTarget(config.originUrl, url),
      method,
      headers: originHeaders(request.headers, deps.hop, parsed.key),
      body: request.body === null ? null : body,
    },
    policy: policyOf(settings, config.originUrl),
  };

  const refused = await checkMapping(deps.coordinators, config, started);
  if (refused !== null) return invalidConfiguration(refused);
  const pending = execute(deps.coordinators, config, command);
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

/**
 * Calls the key's coordinator, retrying once with fresh stubs when the runtime says the call may
 * be retried (`retryable`, not `overloaded`: Cloudflare docs, "Durable Objects: Error handling").
 * A retry is safe: the object owns the record, so a retried call joins, replays or refuses — it
 * never forwards twice.
 */
async function execute(
  namespace: GatewayDeps["coordinators"],
  config: Config,
  command: ExecuteCommand,
): Promise<Streamed<FinalReply>> {
  try {
    return await executeOnOwner(namespace, config, command);
  } catch (error) {
    if (!isRetryable(error)) throw error;
    return await executeOnOwner(namespace, config, command);
  }
}

function isRetryable(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const flags = error as { retryable?: unknown; overloaded?: unknown };
  return flags.retryable === true && flags.overloaded !== true;
}

function toHttp(answer: Streamed<FinalReply>): Response {
  if (answer.kind === "response") return toResponse(answer.response, answer.replayed);
  return problemResponse(answer.problem, answer.replayed ? [[REPLAYED_HEADER, "true"]] : []);
}
