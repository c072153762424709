import { describe, expect, it } from "vitest";
import { ERROR_DIALECTS, dialectMembers } from "../../../src/core/error-dialects";
import {
  PROBLEM_SPECS,
  problemDocument,
  problemResponse,
  type GatewayProblem,
} from "../../../src/core/problems";

const REUSED: GatewayProblem = { code: "idempotency-key-reused" };
const IN_PROGRESS: GatewayProblem = { code: "request-in-progress", retryAfterSeconds: 30 };
const UNKNOWN: GatewayProblem = { code: "origin-outcome-unknown", detail: "Timed out." };
const UNAUTHORIZED: GatewayProblem = { code: "admin-unauthorized" };

/** The members RFC 9457 and the Stripe-style envelope give every body, in every dialect. */
const ALWAYS = ["type", "title", "status", "detail", "code", "error"];

describe("error dialects", () => {
  it.each(ERROR_DIALECTS)(
    "keep every problem+json member and the error envelope in %s",
    (dialect) => {
      const plain = problemDocument(REUSED);
      const spoken = problemDocument(REUSED, dialect);
      for (const member of ALWAYS) expect(spoken[member], member).toEqual(plain[member]);
    },
  );

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

  it.each(ERROR_DIALECTS)(
    "give %s members to every problem code, never an empty one",
    (dialect) => {
      for (const [code, spec] of Object.entries(PROBLEM_SPECS)) {
        const facts = { code, status: spec.status, detail: "why", errorType: spec.errorType };
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
