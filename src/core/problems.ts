/**
 * Every failure the gateway itself answers, as data. One exhaustive function maps each variant to
 * an RFC 9457 `application/problem+json` response, so the wire format lives in one place.
 */
import { dialectMembers, REPLACED_MEMBERS, type ErrorDialect } from "./error-dialects";

/** The stable error codes (README, "Errors"). */
export type ProblemCode =
  | "missing-idempotency-key"
  | "invalid-idempotency-key"
  | "request-too-large"
  | "idempotency-key-reused"
  | "request-in-progress"
  | "origin-unreachable"
  | "origin-outcome-unknown"
  | "invalid-configuration"
  | "admin-unauthorized"
  | "invalid-admin-request"
  | "key-not-found"
  | "not-found"
  | "internal-error"
  | "key-hash-ambiguous"
  | "record-not-unknown"
  | "sharding-required"
  | "malformed-body"
  | "missing-scope"
  | "gateway-busy";

/** An expected failure, tagged by its contract code. `detail` is safe to show the caller. */
export type GatewayProblem =
  | {
      code: "missing-idempotency-key";
      /** Where the route expects the key (`describeKeySource`); the Idempotency-Key header if absent. */
      source?: string;
    }
  | { code: "invalid-idempotency-key"; detail: string }
  | { code: "request-too-large"; limitBytes: number }
  | { code: "idempotency-key-reused" }
  | { code: "request-in-progress"; retryAfterSeconds: number }
  | {
      code: "origin-unreachable";
      detail: string;
      /** A request passed through uncovered: nothing is known about what reached the origin. */
      passedThrough?: boolean;
    }
  | { code: "origin-outcome-unknown"; detail: string }
  | { code: "invalid-configuration"; variable: string; detail: string }
  // The admin API's own answers (docs/operations.md, "Operating it"): not part of the request path.
  | { code: "admin-unauthorized" }
  | { code: "invalid-admin-request"; detail: string }
  | { code: "key-not-found" }
  // Any other path under the admin prefix, and any unexpected failure: still problem+json.
  | { code: "not-found" }
  | { code: "internal-error" }
  // Reconciling without the customer's key (docs/operations.md, "Reconciling an unknown outcome").
  | { code: "key-hash-ambiguous" }
  | { code: "record-not-unknown"; state: "in_flight" | "completed" }
  | { code: "sharding-required" }
  // A body the gateway must read (a key in it, or the `json` fingerprint) and cannot.
  | { code: "malformed-body"; detail: string }
  // A key sent without any of the headers that scope it to its caller (docs/configuration.md, "The key").
  | {
      code: "missing-scope";
      headers: readonly string[];
      /** The scope header whose value is not UTF-8, when one was sent but cannot scope the key. */
      unreadable?: string;
    }
  // A bound of the key's object was reached: nothing was claimed, so a retry is a first request.
  | { code: "gateway-busy"; reason: BusyReason; retryAfterSeconds: number };

/**
 * Which bound answered `gateway-busy` (docs/security.md, "Bounds"): origin calls in flight in one object,
 * their bytes, the object's storage, or the mapping registry when its verdict has lapsed.
 */
export type BusyReason = "calls" | "bytes" | "storage" | "registry";

/** The path prefix under which the gateway documents each problem `type` (see `admin.ts`). */
export const PROBLEM_TYPE_PREFIX = "/__idempotency/problems/";

interface ProblemSpec {
  status: number;
  title: string;
  /** The `error.type` of the Stripe-style envelope that payment SDKs read. */
  errorType: "idempotency_error" | "invalid_request_error" | "api_error" | "authentication_error";
}

/** Status, title and SDK error type per code: the contract's errors table, as data. */
export const PROBLEM_SPECS: Readonly<Record<ProblemCode, ProblemSpec>> = Object.freeze({
  "missing-idempotency-key": {
    status: 400,
    title: "An idempotency key is required",
    errorType: "idempotency_error",
  },
  "invalid-idempotency-key": {
    status: 400,
    title: "The idempotency key is invalid",
    errorType: "idempotency_error",
  },
  "request-too-large": {
    status: 413,
    title: "Request body is too large",
    errorType: "invalid_request_error",
  },
  "idempotency-key-reused": {
    status: 422,
    title: "Idempotency-Key was already used for a different request",
    errorType: "idempotency_error",
  },
  "request-in-progress": {
    status: 409,
    title: "A request with this Idempotency-Key is in progress",
    errorType: "idempotency_error",
  },
  "origin-unreachable": {
    status: 502,
    title: "The origin could not be reached",
    errorType: "api_error",
  },
  "origin-outcome-unknown": {
    status: 504,
    title: "The outcome of the request at the origin is unknown",
    errorType: "api_error",
  },
  "invalid-configuration": {
    status: 500,
    title: "The gateway is misconfigured",
    errorType: "api_error",
  },
  "admin-unauthorized": {
    status: 401,
    title: "A valid admin token is required",
    errorType: "authentication_error",
  },
  "invalid-admin-request": {
    status: 400,
    title: "The admin request is invalid",
    errorType: "invalid_request_error",
  },
  "key-not-found": {
    status: 404,
    title: "No record is stored for this key",
    errorType: "invalid_request_error",
  },
  "not-found": {
    status: 404,
    title: "No such endpoint",
    errorType: "invalid_request_error",
  },
  "internal-error": {
    status: 500,
    title: "The gateway failed unexpectedly",
    errorType: "api_error",
  },
  "key-hash-ambiguous": {
    status: 409,
    title: "More than one record has this key hash",
    errorType: "invalid_request_error",
  },
  "record-not-unknown": {
    status: 409,
    title: "Only a record whose outcome is unknown can be resolved",
    errorType: "invalid_request_error",
  },
  // RFC 9110 §15.6.2: the server does not support the functionality required, as configured.
  "sharding-required": {
    status: 501,
    title: "This admin operation needs sharded key storage",
    errorType: "api_error",
  },
  "malformed-body": {
    status: 400,
    title: "The request body cannot be parsed",
    errorType: "invalid_request_error",
  },
  "missing-scope": {
    status: 400,
    title: "A header that scopes the key to its caller is required",
    errorType: "invalid_request_error",
  },
  // RFC 9110 §15.6.4: a temporary overload, with Retry-After; never a duplicate's 409.
  "gateway-busy": {
    status: 503,
    title: "The gateway is busy",
    errorType: "api_error",
  },
});

const BUSY_DETAILS: Readonly<Record<BusyReason, string>> = {
  calls: "The object that owns this key has as many origin calls in flight as it may hold.",
  bytes: "The object that owns this key holds as many request and answer bytes as it may.",
  storage: "The object that owns this key is near its storage limit and takes no new keys.",
  registry:
    "The registry of key mappings has not confirmed this gateway's configuration recently enough.",
};

/** The human-readable explanation of one problem, never containing a key, credential or body. */
export function problemDetail(problem: GatewayProblem): string {
  switch (problem.code) {
    case "missing-idempotency-key":
      return `This request must carry an idempotency key in ${problem.source ?? "the Idempotency-Key header"}: a unique value (for example a UUID) per operation, reused on every retry of that operation.`;
    case "invalid-idempotency-key":
      return problem.detail;
    case "request-too-large":
      return `The request body exceeds the gateway's limit of ${problem.limitBytes} bytes; nothing was forwarded and the key was not used.`;
    case "idempotency-key-reused":
      return "This Idempotency-Key was already used with a different method, path, query or body. Use a new key for a new request.";
    case "request-in-progress":
      return `A request with this Idempotency-Key is still being processed. Retry with the same key after ${problem.retryAfterSeconds} seconds.`;
    case "origin-unreachable":
      if (problem.passedThrough === true) {
        return `${problem.detail} The request was passed through without idempotency (its method or route is not covered), so nothing was stored, and whether it reached the origin is not known.`;
      }
      return `${problem.detail} Nothing reached the origin; retry with the same key.`;
    case "origin-outcome-unknown":
      return `${problem.detail} The request may have taken effect at the origin, so it will not be forwarded again with this key. Reconcile with the origin before using a new key.`;
    case "invalid-configuration":
      return `${problem.variable}: ${problem.detail}`;
    case "admin-unauthorized":
      return "Send Authorization: Bearer <ADMIN_TOKEN>.";
    case "invalid-admin-request":
      return problem.detail;
    case "key-not-found":
      return "No live record exists for this key and scope (or key hash): it was never used, has expired or was purged.";
    case "not-found":
      return "The gateway has no endpoint at this path (under /__idempotency/, only the documented ones; the key endpoints only when ADMIN_TOKEN is set).";
    case "internal-error":
      return "The gateway failed unexpectedly; the failure is logged. If the request carried a key, retry with the same key.";
    case "key-hash-ambiguous":
      return "Two live records share this key hash, so it cannot say which one is meant. Name the record by its key and scope values instead.";
    case "record-not-unknown":
      return problem.state === "completed"
        ? "This record already holds an answer, which its retries replay. Only a record whose outcome is unknown can be resolved."
        : "This record's origin call may still be running. Only a record whose outcome is unknown can be resolved; look it up again once the call has ended.";
    case "sharding-required":
      return "With IDEMPOTENCY_SHARDS=0 (or IDEMPOTENCY_SHARDS_PREVIOUS=0) each key has its own coordinator object, named by the whole key identity: records cannot be listed or found by key hash. Name the record by its key and scope values.";
    case "malformed-body":
      return `${problem.detail} Nothing was forwarded and the key was not used.`;
    case "gateway-busy":
      return `${BUSY_DETAILS[problem.reason]} Nothing was forwarded and the key was not used: retry with the same key after ${problem.retryAfterSeconds} seconds.`;
    case "missing-scope":
      if (problem.unreadable !== undefined) {
        return `The ${problem.unreadable} header is not valid UTF-8, so it cannot scope the idempotency key: the gateway reads bytes it cannot decode as U+FFFD, and two different credentials would share one scope. Send the credential as ASCII or UTF-8; nothing was forwarded and the key was not used.`;
      }
      return `This request carries an idempotency key but none of the headers that scope a key to its caller (${problem.headers.join(", ")}), so its key would be shared with every other caller. Send your credential in one of them; nothing was forwarded.`;
  }
}

/** The problem+json document for a problem, with the Stripe-style `error` envelope. */
export function problemDocument(
  problem: GatewayProblem,
  dialect: ErrorDialect = "stripe",
): Record<string, unknown> {
  const spec = PROBLEM_SPECS[problem.code];
  const detail = problemDetail(problem);
  const document: Record<string, unknown> = {
    type: PROBLEM_TYPE_PREFIX + problem.code,
    title: spec.title,
    status: spec.status,
    detail,
    code: problem.code,
    // Stripe's SDKs and the payment SDKs modelled on them look for `error` and would otherwise
    // take an error body for a resource (README, "Errors").
    error: { type: spec.errorType, code: problem.code, message: detail },
  };
  // The route's API dialect adds members; it replaces one of the above only where its SDK reads
  // that name (REPLACED_MEMBERS, error-dialects.ts).
  const facts = {
    code: problem.code,
    status: spec.status,
    detail,
    errorType: spec.errorType,
    type: PROBLEM_TYPE_PREFIX + problem.code,
  };
  const replaced = REPLACED_MEMBERS[dialect];
  for (const [name, value] of Object.entries(dialectMembers(dialect, facts))) {
    if (!Object.hasOwn(document, name) || replaced.includes(name)) document[name] = value;
  }
  return document;
}

/**
 * Maps a problem to its HTTP response (RFC 9457 §3). `extraHeaders` carries e.g.
 * `Idempotent-Replayed` for a stored answer; `dialect` adds the members of the route's API
 * (`IDEMPOTENCY_ERROR_DIALECT`, error-dialects.ts).
 *
 * @example
 * problemResponse({ code: "idempotency-key-reused" }).status; // 422
 */
export function problemResponse(
  problem: GatewayProblem,
  extraHeaders: Iterable<[string, string]> = [],
  dialect: ErrorDialect = "stripe",
): Response {
  const headers = new Headers(extraHeaders);
  headers.set("content-type", "application/problem+json");
  headers.set("cache-control", "no-store");
  if (problem.code === "request-in-progress" || problem.code === "gateway-busy") {
    // RFC 9110 §10.2.3: delay-seconds.
    headers.set("retry-after", String(problem.retryAfterSeconds));
  }
  if (problem.code === "admin-unauthorized") {
    // RFC 9110 §11.6.1: a 401 names the scheme it wants (RFC 6750 §3).
    headers.set("www-authenticate", 'Bearer realm="idempotency-gateway"');
  }
  return new Response(JSON.stringify(problemDocument(problem, dialect)), {
    status: PROBLEM_SPECS[problem.code].status,
    headers,
  });
}
