import { describe, expect, it } from "vitest";
import {
  type GatewayProblem,
  PROBLEM_SPECS,
  type ProblemCode,
  problemDetail,
  problemDocument,
  problemResponse,
} from "../../../src/core/problems";

type ErrorType =
  "idempotency_error" | "invalid_request_error" | "api_error" | "authentication_error";

/** README, "Errors": status and SDK `error.type` per code, written out independently. */
const CONTRACT_TABLE: Readonly<Record<ProblemCode, { status: number; errorType: ErrorType }>> = {
  "missing-idempotency-key": { status: 400, errorType: "idempotency_error" },
  "invalid-idempotency-key": { status: 400, errorType: "idempotency_error" },
  "request-too-large": { status: 413, errorType: "invalid_request_error" },
  "idempotency-key-reused": { status: 422, errorType: "idempotency_error" },
  "request-in-progress": { status: 409, errorType: "idempotency_error" },
  "origin-unreachable": { status: 502, errorType: "api_error" },
  "origin-outcome-unknown": { status: 504, errorType: "api_error" },
  "invalid-configuration": { status: 500, errorType: "api_error" },
  // The admin API's own codes (docs/operations.md, "Operating it"), beyond the contract's table.
  "admin-unauthorized": { status: 401, errorType: "authentication_error" },
  "invalid-admin-request": { status: 400, errorType: "invalid_request_error" },
  "key-not-found": { status: 404, errorType: "invalid_request_error" },
  // Every other path under the admin prefix, and unexpected failures (README, "Errors").
  "not-found": { status: 404, errorType: "invalid_request_error" },
  "internal-error": { status: 500, errorType: "api_error" },
  // Reconciling without the customer's key (docs/operations.md, "Reconciling an unknown outcome").
  "key-hash-ambiguous": { status: 409, errorType: "invalid_request_error" },
  "record-not-unknown": { status: 409, errorType: "invalid_request_error" },
  "sharding-required": { status: 501, errorType: "api_error" },
  // A body the gateway must read and cannot; a key without a scope header (docs/configuration.md, "The key").
  "malformed-body": { status: 400, errorType: "invalid_request_error" },
  "missing-scope": { status: 400, errorType: "invalid_request_error" },
  // A bound of the key's object (docs/security.md, "Bounds"): overload, never a duplicate's 409.
  "gateway-busy": { status: 503, errorType: "api_error" },
};

const RETRY_AFTER_SECONDS = 7;
const LIMIT_BYTES = 1_048_576;

/** One example of every problem the gateway answers. */
const EXAMPLES: Readonly<Record<ProblemCode, GatewayProblem>> = {
  "missing-idempotency-key": { code: "missing-idempotency-key" },
  "invalid-idempotency-key": {
    code: "invalid-idempotency-key",
    detail: "The Idempotency-Key must not be empty.",
  },
  "request-too-large": { code: "request-too-large", limitBytes: LIMIT_BYTES },
  "idempotency-key-reused": { code: "idempotency-key-reused" },
  "request-in-progress": { code: "request-in-progress", retryAfterSeconds: RETRY_AFTER_SECONDS },
  "origin-unreachable": { code: "origin-unreachable", detail: "The connection was refused." },
  "origin-outcome-unknown": {
    code: "origin-outcome-unknown",
    detail: "The origin did not answer within 30000 ms.",
  },
  "invalid-configuration": {
    code: "invalid-configuration",
    variable: "IDEMPOTENCY_TTL_SECONDS",
    detail: "must be a whole number written in digits",
  },
  "admin-unauthorized": { code: "admin-unauthorized" },
  "invalid-admin-request": { code: "invalid-admin-request", detail: "key: is required" },
  "key-not-found": { code: "key-not-found" },
  "not-found": { code: "not-found" },
  "internal-error": { code: "internal-error" },
  "key-hash-ambiguous": { code: "key-hash-ambiguous" },
  "record-not-unknown": { code: "record-not-unknown", state: "completed" },
  "sharding-required": { code: "sharding-required" },
  "malformed-body": {
    code: "malformed-body",
    detail: "The request body cannot be parsed as JSON: a value is expected at character 9.",
  },
  "missing-scope": { code: "missing-scope", headers: ["authorization", "x-api-key"] },
  "gateway-busy": { code: "gateway-busy", reason: "calls", retryAfterSeconds: RETRY_AFTER_SECONDS },
};

const CODES = Object.keys(CONTRACT_TABLE) as ProblemCode[];

interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  error: { type: string; code: string; message: string };
}

function isProblemBody(value: unknown): value is ProblemBody {
  if (typeof value !== "object" || value === null) return false;
  const body = value as Record<string, unknown>;
  const error = body["error"];
  return (
    typeof body["type"] === "string" &&
    typeof body["title"] === "string" &&
    typeof body["status"] === "number" &&
    typeof body["detail"] === "string" &&
    typeof body["code"] === "string" &&
    typeof error === "object" &&
    error !== null &&
    typeof (error as Record<string, unknown>)["type"] === "string" &&
    typeof (error as Record<string, unknown>)["code"] === "string" &&
    typeof (error as Record<string, unknown>)["message"] === "string"
  );
}

async function bodyOf(response: Response): Promise<ProblemBody> {
  const body: unknown = await response.json();
  if (!isProblemBody(body)) throw new Error(`not a problem document: ${JSON.stringify(body)}`);
  return body;
}

describe("problemResponse", () => {
  it("covers every code of the contract, and no other", () => {
    expect(Object.keys(PROBLEM_SPECS).sort()).toEqual([...CODES].sort());
  });

  describe.each(CODES)("%s", (code) => {
    const problem = EXAMPLES[code];
    const expected = CONTRACT_TABLE[code];

    it(`answers ${expected.status} as application/problem+json`, () => {
      const response = problemResponse(problem);
      expect(response.status).toBe(expected.status);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
    });

    it("has a type URI ending in the code, a title, the status, a detail and the code", async () => {
      const body = await bodyOf(problemResponse(problem));
      expect(body.type.endsWith(`/${code}`)).toBe(true);
      expect(body.title).not.toBe("");
      expect(body.status).toBe(expected.status);
      expect(body.detail).toBe(problemDetail(problem));
      expect(body.detail).not.toBe("");
      expect(body.code).toBe(code);
    });

    it(`carries the Stripe-style error envelope with type ${expected.errorType}`, async () => {
      const body = await bodyOf(problemResponse(problem));
      expect(body.error).toEqual({ type: expected.errorType, code, message: body.detail });
    });

    it("is not cached", () => {
      expect(problemResponse(problem).headers.get("cache-control")).toBe("no-store");
    });

    it("answers the same document as problemDocument", async () => {
      expect(await problemResponse(problem).json()).toEqual(problemDocument(problem));
    });
  });

  it.each(["request-in-progress", "gateway-busy"] as const)(
    "sets Retry-After to the seconds of a %s",
    (code) => {
      expect(problemResponse(EXAMPLES[code]).headers.get("retry-after")).toBe(
        String(RETRY_AFTER_SECONDS),
      );
    },
  );

  it.each(CODES.filter((code) => code !== "request-in-progress" && code !== "gateway-busy"))(
    "does NOT set Retry-After on %s",
    (code) => {
      expect(problemResponse(EXAMPLES[code]).headers.has("retry-after")).toBe(false);
    },
  );

  it("adds the extra headers it is given, e.g. Idempotent-Replayed", () => {
    const response = problemResponse(EXAMPLES["origin-outcome-unknown"], [
      ["idempotent-replayed", "true"],
    ]);
    expect(response.headers.get("idempotent-replayed")).toBe("true");
  });

  it("does NOT let an extra header replace the problem content type", () => {
    const response = problemResponse(EXAMPLES["idempotency-key-reused"], [
      ["content-type", "text/html"],
    ]);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
  });
});

describe("problemDetail", () => {
  it("names the limit of a request-too-large", () => {
    expect(problemDetail(EXAMPLES["request-too-large"])).toContain(String(LIMIT_BYTES));
  });

  it("names the variable and the problem of an invalid-configuration", () => {
    expect(problemDetail(EXAMPLES["invalid-configuration"])).toBe(
      "IDEMPOTENCY_TTL_SECONDS: must be a whole number written in digits",
    );
  });

  it("passes the parser's reason through for an invalid-idempotency-key", () => {
    expect(problemDetail(EXAMPLES["invalid-idempotency-key"])).toBe(
      "The Idempotency-Key must not be empty.",
    );
  });

  it("tells a request-in-progress client when to retry", () => {
    expect(problemDetail(EXAMPLES["request-in-progress"])).toContain(
      `${RETRY_AFTER_SECONDS} seconds`,
    );
  });

  it("names the Idempotency-Key header by default for a missing-idempotency-key", () => {
    expect(problemDetail({ code: "missing-idempotency-key" })).toContain(
      "in the Idempotency-Key header",
    );
  });

  it("names the route's key source for a missing-idempotency-key, not a header it never asked for", () => {
    const detail = problemDetail({
      code: "missing-idempotency-key",
      source: "the JSON member /idempotency_key of the request body",
    });
    expect(detail).toContain("the JSON member /idempotency_key");
    expect(detail).not.toContain("Idempotency-Key header");
  });

  it("passes the parser's reason through for a malformed-body, and says the key was not used", () => {
    const detail = problemDetail(EXAMPLES["malformed-body"]);
    expect(detail).toContain("a value is expected at character 9");
    expect(detail).toContain("the key was not used");
  });

  it("names every configured scope header for a missing-scope", () => {
    expect(problemDetail(EXAMPLES["missing-scope"])).toContain("(authorization, x-api-key)");
  });
});
