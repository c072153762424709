import {
  ApiError,
  GoCardlessInternalError,
  InvalidApiUsageError,
  InvalidStateError,
  MalformedResponseError,
} from "gocardless-nodejs/errors";
import { describe, expect, it } from "vitest";
import { ERROR_DIALECTS, REPLACED_MEMBERS, dialectMembers } from "../../../src/core/error-dialects";
import {
  PROBLEM_SPECS,
  PROBLEM_TYPE_PREFIX,
  problemDocument,
  problemResponse,
  type GatewayProblem,
} from "../../../src/core/problems";

const REUSED: GatewayProblem = { code: "idempotency-key-reused" };
const IN_PROGRESS: GatewayProblem = { code: "request-in-progress", retryAfterSeconds: 30 };
const UNKNOWN: GatewayProblem = { code: "origin-outcome-unknown", detail: "Timed out." };
const UNAUTHORIZED: GatewayProblem = { code: "admin-unauthorized" };
const MISSING: GatewayProblem = { code: "missing-idempotency-key" };
const MALFORMED: GatewayProblem = { code: "malformed-body", detail: "Unexpected end." };
const BUSY: GatewayProblem = { code: "gateway-busy", reason: "calls", retryAfterSeconds: 2 };
const UNREACHABLE: GatewayProblem = { code: "origin-unreachable", detail: "Refused." };

/** The members RFC 9457 and the Stripe-style envelope give every body, in every dialect. */
const ALWAYS = ["type", "title", "status", "detail", "code", "error"];

describe("error dialects", () => {
  it.each(ERROR_DIALECTS)(
    "keep every problem+json member and the error envelope in %s, but those whose names the dialect's SDK reads",
    (dialect) => {
      const plain = problemDocument(REUSED);
      const spoken = problemDocument(REUSED, dialect);
      for (const member of ALWAYS) {
        expect(spoken[member], member).toBeDefined();
        if (!REPLACED_MEMBERS[dialect].includes(member)) {
          expect(spoken[member], member).toEqual(plain[member]);
        }
      }
      // Wherever a dialect moves the gateway's code, it is still in the body.
      expect(JSON.stringify(spoken)).toContain('"idempotency-key-reused"');
    },
  );

  it("replace members only in gocardless (error) and acp (type, code)", () => {
    const replacing = ERROR_DIALECTS.filter((d) => REPLACED_MEMBERS[d].length > 0);
    expect(Object.fromEntries(replacing.map((d) => [d, REPLACED_MEMBERS[d]]))).toEqual({
      gocardless: ["error"],
      acp: ["type", "code"],
    });
  });

  it("add nothing in the default stripe dialect", () => {
    expect(Object.keys(problemDocument(REUSED, "stripe")).sort()).toEqual([...ALWAYS].sort());
  });

  describe("paypal", () => {
    it("names a reused key as PayPal does: UNPROCESSABLE_ENTITY, issue PAYPAL_REQUEST_ID_PREVIOUSLY_USED", () => {
      const body = problemDocument(REUSED, "paypal");
      expect(body.name).toBe("UNPROCESSABLE_ENTITY");
      expect(body.message).toBe(body.detail);
      expect(body.debug_id).toBe("idempotency-gateway");
      expect(body.details).toEqual([
        { issue: "PAYPAL_REQUEST_ID_PREVIOUSLY_USED", description: body.detail },
      ]);
    });

    it("names a request in progress RESOURCE_CONFLICT, issue PREVIOUS_REQUEST_IN_PROGRESS", () => {
      const body = problemDocument(IN_PROGRESS, "paypal");
      expect(body.name).toBe("RESOURCE_CONFLICT");
      expect(body.details).toEqual([
        { issue: "PREVIOUS_REQUEST_IN_PROGRESS", description: body.detail },
      ]);
    });

    it("falls back to the gateway's code where PayPal names no status (504)", () => {
      const body = problemDocument(UNKNOWN, "paypal");
      expect(body.name).toBe("ORIGIN_OUTCOME_UNKNOWN");
      expect(body.details).toEqual([{ issue: "ORIGIN_OUTCOME_UNKNOWN", description: body.detail }]);
    });
  });

  describe("square", () => {
    it("reports a reused key as IDEMPOTENCY_KEY_REUSED, an invalid request", () => {
      const body = problemDocument(REUSED, "square");
      expect(body.errors).toEqual([
        { category: "INVALID_REQUEST_ERROR", code: "IDEMPOTENCY_KEY_REUSED", detail: body.detail },
      ]);
    });

    it("reports a request in progress as CONFLICT, an API error (not the request's fault)", () => {
      const body = problemDocument(IN_PROGRESS, "square");
      expect(body.errors).toEqual([
        { category: "API_ERROR", code: "CONFLICT", detail: body.detail },
      ]);
    });

    it("reports an unknown outcome as GATEWAY_TIMEOUT and a 401 as an authentication error", () => {
      expect(problemDocument(UNKNOWN, "square").errors).toMatchObject([
        { category: "API_ERROR", code: "GATEWAY_TIMEOUT" },
      ]);
      expect(problemDocument(UNAUTHORIZED, "square").errors).toMatchObject([
        { category: "AUTHENTICATION_ERROR", code: "UNAUTHORIZED" },
      ]);
    });
  });

  describe("adyen", () => {
    it("adds errorCode, message and errorType, and keeps status as the problem's own", () => {
      const body = problemDocument(REUSED, "adyen");
      expect(body).toMatchObject({
        status: 422,
        errorCode: "idempotency-key-reused",
        message: body.detail,
        errorType: "validation",
      });
    });

    it("types a 401 as security and a 5xx as the gateway's own error type", () => {
      expect(problemDocument(UNAUTHORIZED, "adyen").errorType).toBe("security");
      expect(problemDocument(UNKNOWN, "adyen").errorType).toBe("api_error");
    });
  });

  describe("gocardless", () => {
    /** What the SDK raises for a body, by its own rule (`ApiError.buildFromResponse`). */
    function raised(problem: GatewayProblem) {
      const body = problemDocument(problem, "gocardless");
      const status = body.status as number;
      return ApiError.buildFromResponse({ statusCode: status, body, headers: {} });
    }

    it("puts GoCardless's error object under error: type, numeric code, message, errors, documentation_url, request_id", () => {
      const body = problemDocument(REUSED, "gocardless");
      expect(body.error).toEqual({
        type: "invalid_state",
        code: 422,
        message: body.detail,
        errors: [{ reason: "idempotency_key_reused", message: body.detail }],
        documentation_url: `${PROBLEM_TYPE_PREFIX}idempotency-key-reused`,
        request_id: "idempotency-gateway",
      });
      expect(body.code).toBe("idempotency-key-reused");
    });

    it("makes the SDK raise its own classes: a reused key InvalidStateError, a missing key InvalidApiUsageError, a request in progress GoCardlessInternalError", () => {
      const reused = raised(REUSED);
      if (!(reused instanceof InvalidStateError)) throw new Error(`raised ${String(reused)}`);
      expect(reused.message).toBe(problemDocument(REUSED).detail);
      expect(reused.code).toBe(422);
      expect(raised(MISSING)).toBeInstanceOf(InvalidApiUsageError);
      expect(raised(IN_PROGRESS)).toBeInstanceOf(GoCardlessInternalError);
    });

    it("uses GoCardless's reasons where it has one: bad_request for a malformed body, internal_server_error for the gateway's own failure", () => {
      expect(problemDocument(MALFORMED, "gocardless").error).toMatchObject({
        type: "invalid_api_usage",
        errors: [{ reason: "bad_request" }],
      });
      expect(problemDocument({ code: "internal-error" }, "gocardless").error).toMatchObject({
        type: "gocardless",
        code: 500,
        errors: [{ reason: "internal_server_error" }],
      });
    });

    it.each(Object.keys(PROBLEM_SPECS))(
      "never lets the SDK take %s for a bare ApiError or a malformed answer",
      (code) => {
        const spec = PROBLEM_SPECS[code as keyof typeof PROBLEM_SPECS];
        const type = PROBLEM_TYPE_PREFIX + code;
        const facts = { code, status: spec.status, detail: "why", errorType: spec.errorType, type };
        const body = { ...dialectMembers("gocardless", facts) };
        const error = ApiError.buildFromResponse({ statusCode: spec.status, body, headers: {} });
        expect(error).not.toBeInstanceOf(MalformedResponseError);
        expect(error.constructor).not.toBe(ApiError);
      },
    );
  });

  describe("acp", () => {
    it.each([
      [MISSING, 400, "idempotency_key_required"],
      [IN_PROGRESS, 409, "idempotency_in_flight"],
      [REUSED, 422, "idempotency_conflict"],
    ] as const)(
      "answers %j with the protocol's status and code, type invalid_request, flat",
      (problem, status, code) => {
        const body = problemDocument(problem, "acp");
        expect(body).toMatchObject({ type: "invalid_request", code, status, message: body.detail });
        expect(body.error).toMatchObject({ code: problem.code });
      },
    );

    it("types an unreachable origin and a busy gateway service_unavailable, an unknown outcome processing_error", () => {
      expect(problemDocument(UNREACHABLE, "acp").type).toBe("service_unavailable");
      expect(problemDocument(BUSY, "acp").type).toBe("service_unavailable");
      expect(problemDocument(UNKNOWN, "acp")).toMatchObject({
        type: "processing_error",
        code: "origin_outcome_unknown",
      });
    });
  });

  it.each(ERROR_DIALECTS)(
    "give %s members to every problem code, never an empty one",
    (dialect) => {
      for (const [code, spec] of Object.entries(PROBLEM_SPECS)) {
        const type = PROBLEM_TYPE_PREFIX + code;
        const facts = { code, status: spec.status, detail: "why", errorType: spec.errorType, type };
        const members = JSON.stringify(dialectMembers(dialect, facts));
        expect(members, code).not.toMatch(/null|""|undefined/);
      }
    },
  );

  it("reach the wire through problemResponse, headers unchanged", async () => {
    const response = problemResponse(IN_PROGRESS, [], "square");
    expect(response.status).toBe(409);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(response.headers.get("retry-after")).toBe("30");
    const body = (await response.json()) as { errors: { code: string }[] };
    expect(body.errors[0]?.code).toBe("CONFLICT");
  });
});
