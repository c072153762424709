import type { Config } from "../config/config";
import { settingsFor } from "../config/routes";
import type { IdempotencyCoordinator } from "../coordinator/coordinator";
import { executeOnOwner, keyRoute } from "../coordinator/locate";
import { mappingReport } from "../coordinator/mapping-check";
import { coordinatorDeadlineMs } from "../coordinator/deadline";
import {
  policyOf,
  type ExecuteCommand,
  type FinalReply,
  type Streamed,
} from "../coordinator/protocol";
import { readFramed } from "../core/bounded-body";
import { comparedBody, fingerprintOf } from "../core/fingerprint";
import { IDEMPOTENCY_KEY_HEADER, REPLAYED_HEADER } from "../core/header-names";
import type { KeyParseResult } from "../core/idempotency-key";
import type { KeyHashing } from "../core/key-hash";
import { keyIdentity, unreadableScopeHeader } from "../core/key-identity";
import { describeKeySource, keyFromHeader, keyFromJson, type KeySource } from "../core/key-source";
import { originHeaders, originTarget } from "../core/origin-request";
import type { ErrorDialect } from "../core/error-dialects";
import { problemResponse, type GatewayProblem } from "../core/problems";
import { parseBody, type RequestBody, type Unreadable } from "../core/request-body";
import { toResponse } from "../core/stored-response";
import { logRequest, type RequestLog, type WorkerOutcome } from "./log";
import type { Metrics } from "./metrics";
import { edgeReplays, type EdgeLookup } from "./edge-replays";
import { passThrough } from "./pass-through";
import { isPreflight, replayCors } from "./cors";

/** What the gateway needs from its environment to handle a request. */
export interface GatewayDeps {
  config: Config;
  metrics: Metrics;
  /** How key identities become the key hashes of log lines (`KEY_HASH_SECRET`). */
  keyHashing: KeyHashing;
  coordinators: DurableObjectNamespace<IdempotencyCoordinator>;
  /** This deployment's hop marker value (`hop.ts`). */
  hop: string;
  /** Keeps the coordinator call alive if the client disconnects. */
  waitUntil: (promise: Promise<unknown>) => void;
}

/**
 * Handles one request to the origin's API: pass-through for uncovered requests (and routes
 * without a key), the idempotency protocol for covered ones: the key from the route's source
 * (`IDEMPOTENCY_KEY_FROM`), its scope, the body under its limit, the fingerprint in the route's
 * mode (`IDEMPOTENCY_FINGERPRINT`), then one call to the key's coordinator.
 */
export async function handleApiRequest(request: Request, deps: GatewayDeps): Promise<Response> {
  const { config } = deps;
  const url = new URL(request.url);
  const settings = settingsFor(config, url.pathname);
  const source = settings.keySource;
  // A route whose key source is `none` has no key: like an uncovered method, proxied untouched.
  // So is a CORS preflight, even where OPTIONS is covered: it asks the origin's permission and
  // never carries the key (docs/adr/0012).
  if (!settings.methods.has(request.method) || source.kind === "none" || isPreflight(request)) {
    return passThrough(request, config.originUrl, deps.hop);
  }
  const started = Date.now();
  const method = request.method;
  const report = (line: RequestLog) => {
    if (config.requestLogs) logRequest(line);
    deps.metrics.count(line);
  };
  const refuse = (outcome: RefusalOutcome, problem: GatewayProblem, keyHash?: string) => {
    const response = problemResponse(problem, [], settings.errorDialect);
    report({
      outcome,
      ...(keyHash === undefined ? {} : { keyHash }),
      method,
      status: response.status,
      gatewayMs: Date.now() - started,
    });
    return response;
  };
  /**
   * The key, or the answer to a request without a usable one. `body`: the buffered body once it
   * has been read (the request's own stream is used up by then).
   */
  const accept = (
    parsed: KeyParseResult,
    body?: Uint8Array,
  ): string | Response | Promise<Response> => {
    if (parsed.kind === "missing") {
      if (!settings.keyRequired) {
        const untouched = body === undefined ? request : withBody(request, body);
        // Counted as its own outcome: an operator sees how many writes go without idempotency.
        return passThrough(untouched, config.originUrl, deps.hop).then((response) => {
          report({
            outcome: "keyless",
            method,
            status: response.status,
            gatewayMs: Date.now() - started,
          });
          return response;
        });
      }
      const problem: GatewayProblem = {
        code: "missing-idempotency-key",
        source: describeKeySource(source),
      };
      return refuse("missing-key", problem);
    }
    if (parsed.kind === "invalid") {
      const problem: GatewayProblem = { code: "invalid-idempotency-key", detail: parsed.reason };
      return refuse("invalid", problem);
    }
    // Without a scope header, the key would share one scope with every caller that sends none.
    if (!hasScope(config.scopeHeaders, request.headers)) {
      const problem: GatewayProblem = { code: "missing-scope", headers: config.scopeHeaders };
      return refuse("missing-scope", problem);
    }
    // Bytes the runtime could not decode would merge the scopes of different credentials.
    const unreadable = unreadableScopeHeader(config.scopeHeaders, (n) => request.headers.get(n));
    if (unreadable !== null) {
      return refuse("missing-scope", {
        code: "missing-scope",
        headers: config.scopeHeaders,
        unreadable,
      });
    }
    return parsed.key;
  };
  /** The body, buffered under the limit and parsed where the route needs it, or the refusal. */
  const readBody = async (): Promise<RequestBody | Response> => {
    const bytes = await readFramed(request, settings.maxBodyBytes, { drain: true });
    if (bytes === null) {
      return refuse("too-large", { code: "request-too-large", limitBytes: settings.maxBodyBytes });
    }
    const read = parseBody(bytes, request.headers.get("content-type"), {
      parseJson: source.kind === "json" || settings.fingerprintMode === "json",
      // A form is compared by its parts in every mode; a body that holds the key is never one.
      parseMultipart: source.kind === "header",
    });
    if (read.ok) return read.body;
    return refuse("malformed-body", { code: "malformed-body", detail: malformedDetail(read) });
  };

  // A key in a header is checked before the body is read; a key in the body, after.
  let key: string;
  let body: RequestBody | Response;
  if (source.kind === "header") {
    const accepted = accept(keyFromHeader(source, request.headers.get(source.field)));
    if (typeof accepted !== "string") return accepted;
    key = accepted;
    body = await readBody();
    if (body instanceof Response) return body;
  } else {
    body = await readBody();
    if (body instanceof Response) return body;
    const accepted = accept(keyFromJson(source, body.json?.value), body.bytes);
    if (typeof accepted !== "string") return accepted;
    key = accepted;
  }

  const scopeValue = (name: string) => request.headers.get(name);
  const [identity, print, previousIdentity] = await Promise.all([
    keyIdentity(config.scopeHeaders, scopeValue, key),
    fingerprintOf(
      { method, path: url.pathname, query: url.search.slice(1) },
      comparedBody(settings.fingerprintMode, body),
    ),
    // While the scope headers change, the key is first found by its old identity
    // (src/core/scope-change.ts).
    config.previousScopeHeaders === null
      ? null
      : keyIdentity(config.previousScopeHeaders, scopeValue, key),
  ]);
  // No secret, no key hash: never a weaker, unkeyed one in its place (src/core/key-hash.ts).
  const logged =
    deps.keyHashing.kind === "keyed" ? { keyHash: await deps.keyHashing.hash(identity) } : {};
  // No edge replays while the scope headers change: a key's record may live under either identity.
  const edgeMs = previousIdentity === null ? config.edgeReplaySeconds * 1000 : 0;
  const seen = edgeMs > 0 ? edgeReplays.lookup(identity, print, started) : null;
  if (seen !== null && seen.kind !== "miss") {
    const response = toHttp(edgeReply(seen), settings.errorDialect, request);
    report({
      outcome: seen.kind === "replay" ? "replayed" : "mismatch",
      ...logged,
      method,
      status: response.status,
      gatewayMs: Date.now() - started,
      edge: true,
    });
    return response;
  }
  // Built only now: a replay at the edge needs none of it.
  const command: ExecuteCommand = {
    ...(previousIdentity === null
      ? { identity }
      : {
          identity: previousIdentity,
          renamed: { identity, address: keyRoute(identity, config).first },
        }),
    ...logged,
    fingerprint: print,
    request: {
      url: originTarget(config.originUrl, url),
      method,
      // The key reaches the origin where the client put it: `Idempotency-Key` in its bare form
      // (the one Stripe-style APIs parse); another header, or the body, exactly as sent.
      headers: originHeaders(request.headers, deps.hop, barePlaced(source) ? key : undefined),
      // A GET's or HEAD's body is fingerprinted but not forwarded, as on the pass-through: the
      // Fetch API cannot send one, and it has no defined meaning (RFC 9110 §9.3.1).
      body: request.body === null || method === "GET" || method === "HEAD" ? null : body.bytes,
    },
    policy: policyOf(settings, config.originUrl, config.probePath),
    // Kept with the record for operators; the query may carry customer data and is left out.
    path: url.pathname,
    mapping: mappingReport(config),
    storageLimitBytes: config.storageLimitBytes,
  };

  const pending = execute(deps.coordinators, config, command);
  // Kept alive if the client leaves; a failure is answered below, not reported twice.
  deps.waitUntil(pending.catch(() => undefined));
  const deadlineMs = coordinatorDeadlineMs(command.policy);
  const answer = await withDeadline(pending, deadlineMs);
  if (answer === null) {
    // The coordinator still owns the key and settles it; this client is told the truth (the
    // outcome is not known yet) and its retry with the same key gets the outcome, never a
    // second forward. Nothing is stored here.
    const problem: GatewayProblem = {
      code: "origin-outcome-unknown",
      detail: `The gateway's coordinator did not answer within ${deadlineMs} ms; a retry with the same key gets the outcome once it is known.`,
    };
    return refuse("coordinator-timeout", problem, logged.keyHash);
  }
  if (edgeMs > 0 && answer.kind === "response" && answer.storedUntil !== undefined) {
    const { body } = answer.response;
    // Only small answers come as bytes (larger ones are streamed, and not kept at the edge).
    if (body instanceof Uint8Array) {
      const until = Math.min(answer.storedUntil, started + edgeMs);
      edgeReplays.remember(identity, print, { ...answer.response, body: body.slice() }, until);
    }
  }
  const response = toHttp(answer, settings.errorDialect, request);
  report({
    outcome: answer.outcome,
    ...logged,
    method,
    status: response.status,
    ...(answer.kind === "problem" && answer.problem.code === "gateway-busy"
      ? { reason: answer.problem.reason }
      : {}),
    ...(answer.kind === "response" && answer.originStatus !== undefined
      ? { originStatus: answer.originStatus }
      : {}),
    gatewayMs: Date.now() - started,
    ...(answer.originMs !== undefined ? { originMs: answer.originMs } : {}),
    ...(answer.probe !== undefined ? { probe: answer.probe.result, probeMs: answer.probe.ms } : {}),
  });
  return response;
}

/** The `malformed-body` detail for a body that failed its grammar. */
function malformedDetail({ format, reason }: Unreadable): string {
  return format === "json"
    ? `The request body cannot be parsed as JSON (RFC 8259): ${reason}.`
    : `The request body cannot be parsed as multipart/form-data (RFC 7578): ${reason}.`;
}

/** The log outcome of a request the Worker answers itself. */
type RefusalOutcome = WorkerOutcome;

/**
 * `promise`'s value, or `null` once `ms` have passed. A reply that comes later is not read: its
 * streamed body is cancelled, so the coordinator's delivery budget gets its bytes back.
 */
async function withDeadline(
  promise: Promise<Streamed<FinalReply>>,
  ms: number,
): Promise<Streamed<FinalReply> | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  const answer = await Promise.race([promise, expired]).finally(() => clearTimeout(timer));
  if (answer === null) {
    promise.then(
      (late) => {
        const body = late.kind === "response" ? late.response.body : null;
        if (body instanceof ReadableStream) void body.cancel();
      },
      () => undefined,
    );
  }
  return answer;
}

/**
 * Whether the request carries a non-empty value of at least one scope header, or no scope
 * header is configured (one global scope, chosen explicitly). `Headers.get` trims the value, so
 * a field of only whitespace counts as absent.
 */
function hasScope(scopeHeaders: readonly string[], headers: Headers): boolean {
  return scopeHeaders.length === 0 || scopeHeaders.some((name) => (headers.get(name) ?? "") !== "");
}

/** Whether the key travels as `Idempotency-Key`, which the origin receives in its bare form. */
function barePlaced(source: KeySource): boolean {
  return source.kind === "header" && source.field === IDEMPOTENCY_KEY_HEADER.toLowerCase();
}

/**
 * The request with its body replaced by the bytes already read from it (same method, headers).
 * A GET's or HEAD's body is left out: a `Request` cannot hold one, and the pass-through would not
 * send it (`pass-through.ts`).
 */
function withBody(request: Request, body: Uint8Array): Request {
  const bodyless = request.body === null || request.method === "GET" || request.method === "HEAD";
  return new Request(request.url, {
    method: request.method,
    headers: request.headers,
    body: bodyless ? null : body,
  });
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

/** What the coordinator would answer for a completed record this isolate has kept. */
function edgeReply(seen: Exclude<EdgeLookup, { kind: "miss" }>): FinalReply {
  if (seen.kind === "mismatch") {
    return {
      kind: "problem",
      outcome: "mismatch",
      replayed: false,
      problem: { code: "idempotency-key-reused" },
    };
  }
  // A copy per answer: the kept bytes serve every later replay.
  const response = { ...seen.response, body: seen.response.body.slice() };
  return { kind: "response", outcome: "replayed", replayed: true, response };
}

/**
 * The HTTP answer to `request`. A replayed origin answer keeps its CORS headers only for the page
 * they were made for (`cors.ts`, docs/adr/0012).
 */
function toHttp(answer: Streamed<FinalReply>, dialect: ErrorDialect, request: Request): Response {
  if (answer.kind === "response") {
    const response = toResponse(answer.response, answer.replayed);
    if (answer.replayed) replayCors(response.headers, request.headers.get("origin"));
    return response;
  }
  return problemResponse(
    answer.problem,
    answer.replayed ? [[REPLAYED_HEADER, "true"]] : [],
    dialect,
  );
}
