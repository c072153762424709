import type { ProblemFacts } from "./facts.ts";

/**
 * GoCardless's error object, which its SDKs read under `error`: `type`, `code` (the HTTP status,
 * as a number), `message`, `errors[{reason, message}]`, `documentation_url` and `request_id`
 * (GoCardless API reference, "Errors": https://developer.gocardless.com/api-reference/#api-usage-errors;
 * the shape of its own `409` in https://gocardless.com/blog/idempotency-keys/).
 *
 * The SDK sorts an error into a class by status first (401, 403, 429), then by `error.type`
 * (`gocardless-nodejs`, `ApiError.buildFromResponse` in `src/errors.ts`):
 * `invalid_api_usage` → `InvalidApiUsageError`, `invalid_state` → `InvalidStateError`,
 * `validation_failed` → `ValidationFailedError`, `gocardless` → `GoCardlessInternalError`. An
 * `error` of any other type is a bare `ApiError`, which is what the Stripe-style envelope became.
 *
 * The type follows what GoCardless's reference says each one means:
 * - `invalid_api_usage`: "an error with the request you made" that the application's developers
 *   should hear of — a missing, malformed or unscoped key, a body too large or unreadable;
 * - `invalid_state`: the action is invalid given the state of what it acts on, and the end user
 *   "should not be allowed to retry the action" — a key already used for another request (GoCardless
 *   itself answers a reused key with `invalid_state`);
 * - `gocardless`: an error on the server's side where, "in some cases", the request should be
 *   retried — a request still in progress, an overloaded gateway, an origin the gateway could not
 *   reach or whose outcome it does not know, and the gateway's own failures.
 *
 * The `reason` is GoCardless's own where its reference names one for the case (`bad_request`:
 * "the request syntax was incorrect"; `internal_server_error`), and the gateway's code otherwise,
 * in GoCardless's snake case. The gateway never answers `idempotent_creation_conflict`: that
 * reason makes the SDK fetch `links.conflicting_resource_id`, a resource the gateway cannot name.
 * An origin's own `409 idempotent_creation_conflict` passes through unchanged, and the SDK's
 * follow-up `GET` is an uncovered request, proxied untouched.
 */
export function gocardless({ code, status, detail, type }: ProblemFacts): Record<string, unknown> {
  return {
    error: {
      type: gocardlessType(code, status),
      code: status,
      message: detail,
      errors: [{ reason: GOCARDLESS_REASONS[code] ?? snake(code), message: detail }],
      // Where the gateway documents this problem (its problem type, RFC 9457 §3.1.1).
      documentation_url: type,
      // GoCardless's id for its support team; the gateway's errors never reached GoCardless.
      request_id: "idempotency-gateway",
    },
  };
}

/** GoCardless's reasons for the gateway's problems where its reference names one. */
const GOCARDLESS_REASONS: Readonly<Record<string, string>> = {
  "malformed-body": "bad_request",
  "internal-error": "internal_server_error",
};

function gocardlessType(code: string, status: number): string {
  if (code === "idempotency-key-reused") return "invalid_state";
  if (code === "request-in-progress" || status >= 500) return "gocardless";
  return "invalid_api_usage";
}

/** `idempotency-key-reused` → `idempotency_key_reused`. */
function snake(code: string): string {
  return code.replaceAll("-", "_");
}
