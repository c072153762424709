/**
 * Error dialects: the members a payment SDK reads in an error body, added to every problem the
 * gateway answers on a route (`IDEMPOTENCY_ERROR_DIALECT`, README "Errors"). Without them an SDK
 * that is not Stripe's raises a generic "unexpected response" instead of its native error, and the
 * gateway's explanation is lost. The problem+json members (RFC 9457) are always there; a dialect
 * adds members, and replaces one only where its SDK reads that very name (`REPLACED_MEMBERS`,
 * docs/adr/0013-keyless-writes-pass-by-default.md).
 *
 * Each dialect uses the provider's own code where its documentation names one for the case, and
 * the gateway's code (in the provider's case) where it does not.
 */
import { acp } from "./dialects/acp.ts";
import type { ProblemFacts } from "./dialects/facts.ts";
import { gocardless } from "./dialects/gocardless.ts";

export type { ProblemFacts } from "./dialects/facts.ts";

/** The dialects, `stripe` first: the default, whose `error` envelope the others keep or replace. */
export const ERROR_DIALECTS = ["stripe", "paypal", "square", "adyen", "gocardless", "acp"] as const;

/** One of `ERROR_DIALECTS`. */
export type ErrorDialect = (typeof ERROR_DIALECTS)[number];

/**
 * The members of the problem document a dialect replaces, because its SDK reads the same name
 * for something else: GoCardless's SDKs read `error` as GoCardless's error object, ACP clients
 * read `type` and `code` as the protocol's.
 */
export const REPLACED_MEMBERS: Readonly<Record<ErrorDialect, readonly string[]>> = {
  stripe: [],
  paypal: [],
  square: [],
  adyen: [],
  gocardless: ["error"],
  acp: ["type", "code"],
};

/**
 * The members `dialect` adds to a problem body.
 *
 * @example
 * dialectMembers("square", { code: "idempotency-key-reused", status: 422, detail: "…", errorType: "idempotency_error" });
 * // { errors: [{ category: "INVALID_REQUEST_ERROR", code: "IDEMPOTENCY_KEY_REUSED", detail: "…" }] }
 */
export function dialectMembers(
  dialect: ErrorDialect,
  facts: ProblemFacts,
): Record<string, unknown> {
  switch (dialect) {
    case "stripe":
      return {};
    case "paypal":
      return paypal(facts);
    case "square":
      return square(facts);
    case "adyen":
      return adyen(facts);
    case "gocardless":
      return gocardless(facts);
    case "acp":
      return acp(facts);
  }
}

/** `idempotency-key-reused` → `IDEMPOTENCY_KEY_REUSED`: the gateway's code, in a provider's case. */
function upperSnake(code: string): string {
  return code.toUpperCase().replaceAll("-", "_");
}

/**
 * PayPal's error `name` per HTTP status, as its REST APIs send them: developer.paypal.com
 * "API responses" (/api/rest/responses/) and "Orders v2: Common errors"
 * (/api/rest/integration/orders-api/errors); `RESOURCE_CONFLICT` for 409 from the `error_409`
 * definition (/api/payments.payouts-batch/v1/definitions/error_409).
 */
const PAYPAL_NAMES: Readonly<Record<number, string>> = {
  400: "INVALID_REQUEST",
  401: "AUTHENTICATION_FAILURE",
  404: "RESOURCE_NOT_FOUND",
  409: "RESOURCE_CONFLICT",
  422: "UNPROCESSABLE_ENTITY",
  500: "INTERNAL_SERVER_ERROR",
  503: "SERVICE_UNAVAILABLE",
};

/**
 * PayPal's own `issue` codes for the two idempotency cases:
 * - a `PayPal-Request-Id` already used for another request:
 *   developer.paypal.com/api/payment-tokens/v3/errors/paypal_request_id_previously_used (422);
 * - a request on the resource still in progress:
 *   developer.paypal.com/api/payments/v2/errors/previous_request_in_progress (409).
 */
const PAYPAL_ISSUES: Readonly<Record<string, string>> = {
  "idempotency-key-reused": "PAYPAL_REQUEST_ID_PREVIOUSLY_USED",
  "request-in-progress": "PREVIOUS_REQUEST_IN_PROGRESS",
};

/**
 * PayPal's error shape (`name`, `message`, `debug_id`, `details[{issue, description}]`, e.g.
 * developer.paypal.com/api/identity/v1/definitions/error_default). `debug_id` is PayPal's
 * correlation id; the gateway's errors have none at PayPal, so it names the gateway instead.
 */
function paypal({ code, status, detail }: ProblemFacts): Record<string, unknown> {
  return {
    name: PAYPAL_NAMES[status] ?? upperSnake(code),
    message: detail,
    debug_id: "idempotency-gateway",
    details: [{ issue: PAYPAL_ISSUES[code] ?? upperSnake(code), description: detail }],
  };
}

/**
 * Square's `ErrorCode` values per HTTP status (developer.squareup.com/reference/square/enums/ErrorCode:
 * "Bad Request", "Conflict", "Gateway Timeout"… each "a general error occurred").
 */
const SQUARE_CODES_BY_STATUS: Readonly<Record<number, string>> = {
  400: "BAD_REQUEST",
  401: "UNAUTHORIZED",
  404: "NOT_FOUND",
  409: "CONFLICT",
  413: "REQUEST_ENTITY_TOO_LARGE",
  422: "UNPROCESSABLE_ENTITY",
  500: "INTERNAL_SERVER_ERROR",
  501: "NOT_IMPLEMENTED",
  502: "BAD_GATEWAY",
  503: "SERVICE_UNAVAILABLE",
  504: "GATEWAY_TIMEOUT",
};

/**
 * Square's specific `ErrorCode` values for the key problems (same enum): `IDEMPOTENCY_KEY_REUSED`
 * ("The provided idempotency key has already been used"), `MISSING_REQUIRED_PARAMETER`,
 * `INVALID_VALUE`.
 */
const SQUARE_CODES: Readonly<Record<string, string>> = {
  "idempotency-key-reused": "IDEMPOTENCY_KEY_REUSED",
  "missing-idempotency-key": "MISSING_REQUIRED_PARAMETER",
  "invalid-idempotency-key": "INVALID_VALUE",
};

/**
 * Square's `errors[{category, code, detail}]` (developer.squareup.com/docs/build-basics/handling-errors).
 * `category` is one of its `ErrorCategory` values (…/reference/square/enums/ErrorCategory):
 * `AUTHENTICATION_ERROR` for a 401, `INVALID_REQUEST_ERROR` for what the request must change,
 * `API_ERROR` for the rest — a request in progress included, which is not the request's fault.
 */
function square({ code, status, detail }: ProblemFacts): Record<string, unknown> {
  const category =
    status === 401
      ? "AUTHENTICATION_ERROR"
      : status < 500 && code !== "request-in-progress"
        ? "INVALID_REQUEST_ERROR"
        : "API_ERROR";
  const squareCode = SQUARE_CODES[code] ?? SQUARE_CODES_BY_STATUS[status] ?? upperSnake(code);
  return { errors: [{ category, code: squareCode, detail }] };
}

/**
 * Adyen's error shape (`status`, `errorCode`, `message`, `errorType`:
 * docs.adyen.com/development-resources/error-codes). `status` is the problem's own member, with
 * the same value. `errorType` is `validation` for what the request must change (the documented
 * example) and `security` for a 401 (as Adyen's API libraries' fixtures show); a 5xx keeps the
 * gateway's own type. Adyen's documentation available to this project names no `errorCode` for a
 * reused key or a request in progress, so `errorCode` is the gateway's code.
 */
function adyen({ code, status, detail, errorType }: ProblemFacts): Record<string, unknown> {
  const type = status === 401 ? "security" : status < 500 ? "validation" : errorType;
  return { errorCode: code, message: detail, errorType: type };
}
