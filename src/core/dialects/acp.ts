import type { ProblemFacts } from "./facts.ts";

/**
 * The Agentic Commerce Protocol's flat error object, `type`, `code`, `message` (and an optional
 * `param`, which the gateway's problems have no use for), at the top level of the body
 * (agentic-commerce-protocol/agentic-commerce-protocol, `rfcs/rfc.agentic_checkout.md` §3.1
 * "Error Shape (flat)"; the `Error` schema of `spec/unreleased/json-schema/schema.agentic_checkout.json`).
 * Its members `type` and `code` are the problem document's own names: this dialect replaces their
 * values (docs/adr/0013-keyless-writes-pass-by-default.md); the gateway's code stays in `error.code`.
 *
 * `type` is one of the schema's three: `invalid_request` — "malformed request, missing required
 * fields, invalid JSON, or idempotency violations" — for every 4xx; `service_unavailable` —
 * "temporary unavailability" — for a gateway too busy or an origin it could not reach (503, 502);
 * `processing_error` — "unexpected server-side failure" — for the other 5xx.
 *
 * `code` is the protocol's own for its three idempotency cases (`rfcs/rfc.agentic_checkout.md`
 * §6.4, and the `IdempotencyKeyRequired`, `IdempotencyInFlight` and `IdempotencyConflict`
 * responses of `spec/unreleased/openapi/openapi.agentic_checkout.yaml`), with the same statuses
 * the gateway answers: 400 `idempotency_key_required`, 409 `idempotency_in_flight` (with
 * `Retry-After`), 422 `idempotency_conflict`. The schema leaves every other code to the
 * implementation: the gateway's code, in the protocol's snake case.
 */
export function acp({ code, status, detail }: ProblemFacts): Record<string, unknown> {
  return {
    type: acpType(status),
    code: ACP_CODES[code] ?? code.replaceAll("-", "_"),
    message: detail,
  };
}

/** The protocol's codes for the gateway's idempotency problems. */
const ACP_CODES: Readonly<Record<string, string>> = {
  "missing-idempotency-key": "idempotency_key_required",
  "request-in-progress": "idempotency_in_flight",
  "idempotency-key-reused": "idempotency_conflict",
};

function acpType(status: number): string {
  if (status < 500) return "invalid_request";
  if (status === 502 || status === 503) return "service_unavailable";
  return "processing_error";
}
