/**
 * Every failure the gateway itself answers, as data. One exhaustive function maps each variant to
 * an RFC 9457 `application/problem+json` response, so the wire format lives in one place.
 */

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
  | "internal-error";

/** An expected failure, tagged by its contract code. `detail` is safe to show the caller. */
export type GatewayProblem =
  | { code: "missing-idempotency-key" }
  | { code: "invalid-idempotency-key"; detail: string }
  | { code: "request-too-large"; limitBytes: number }
  | { code: "idempotency-key-reused" }
  | { code: "request-in-progress"; retryAfterSeconds: number }
  | { code: "origin-unreachable"; detail: string }
  | { code: "origin-outcome-unknown"; detail: string }
  | { code: "invalid-configuration"; variable: string; detail: string }
  // The admin API's own answers (README, "Operating it"): not part of the request path.
  | { code: "admin-unauthorized" }
  | { code: "invalid-admin-request"; detail: string }
  | { code: "key-not-found" }
  // Any other path under the admin prefix, and any unexpected failure: still problem+json.
  | { code: "not-found" }
  | { code: "internal-error" };

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
    title: "Idempotency-Key header is required",
    errorType: "idempotency_error",
  },
  "invalid-idempotency-key": {
    status: 400,
    title: "Idempotency-Key header is invalid",
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
});

/** The human-readable explanation of one problem, never containing a key, credential or body. */
export function problemDetail(problem: GatewayProblem): string {
  switch (problem.code) {
    case "missing-idempotency-key":
      return "This request must carry an Idempotency-Key header: a unique value (for example a UUID) per operation, reused on every retry of that operation.";
    case "invalid-idempotency-key":
      return problem.detail;
    case "request-too-large":
      return `The request body exceeds the gateway's limit of ${problem.limitBytes} bytes; nothing was forwarded and the key was not used.`;
    case "idempotency-key-reused":
      return "This Idempotency-Key was already used with a different method, path, query or body. Use a new key for a new request.";
    case "request-in-progress":
      return `A request with this Idempotency-Key is still being processed. Retry with the same key after ${problem.retryAfterSeconds} seconds.`;
    case "origin-unreachable":
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
      return "No live record exists for this key and scope: it was never used, has expired or was purged.";
    case "not-found":
      return "The gateway has no endpoint at this path (under /__idempotency/, only the documented ones; the key endpoints only when ADMIN_TOKEN is set).";
    case "internal-error":
      return "The gateway failed unexpectedly; the failure is logged. If the request carried a key, retry with the same key.";
  }
}

/** The problem+json document for a problem, with the Stripe-style `error` envelope. */
export function problemDocument(problem: GatewayProblem): Record<string, unknown> {
  const spec = PROBLEM_SPECS[problem.code];
  const detail = problemDetail(problem);
  return {
    type: PROBLEM_TYPE_PREFIX + problem.code,
    title: spec.title,
    status: spec.status,
    detail,
    code: problem.code,
    // Stripe's SDKs and the payment SDKs modelled on them look for `error` and would otherwise
    // take an error body for a resource (README, "Errors").
    error: { type: spec.errorType, code: problem.code, message: detail },
  };
}

/**
 * Maps a problem to its HTTP response (RFC 9457 §3). `extraHeaders` carries e.g.
 * `Idempotent-Replayed` for a stored answer.
 *
 * @example
 * problemResponse({ code: "idempotency-key-reused" }).status; // 422
 */
export function problemResponse(
  problem: GatewayProblem,
  extraHeaders: Iterable<[string, string]> = [],
): Response {
  const headers = new Headers(extraHeaders);
  headers.set("content-type", "application/problem+json");
  headers.set("cache-control", "no-store");
  if (problem.code === "request-in-progress") {
    // RFC 9110 §10.2.3: delay-seconds.
    headers.set("retry-after", String(problem.retryAfterSeconds));
  }
  if (problem.code === "admin-unauthorized") {
    // RFC 9110 §11.6.1: a 401 names the scheme it wants (RFC 6750 §3).
    headers.set("www-authenticate", 'Bearer realm="idempotency-gateway"');
  }
  return new Response(JSON.stringify(problemDocument(problem)), {
    status: PROBLEM_SPECS[problem.code].status,
    headers,
  });
}
