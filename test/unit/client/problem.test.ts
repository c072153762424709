import { describe, expect, it } from "vitest";
import { readProblemCode } from "../../../src/client/problem";
import { ERROR_DIALECTS } from "../../../src/core/error-dialects";
import { problemResponse, type GatewayProblem } from "../../../src/core/problems";

const OUTCOME_UNKNOWN = JSON.stringify({ status: 504, code: "origin-outcome-unknown" });

describe("readProblemCode", () => {
  it("reads the code of a problem+json body and leaves the body readable", async () => {
    const response = new Response(OUTCOME_UNKNOWN, {
      status: 504,
      headers: { "Content-Type": "application/problem+json; charset=utf-8" },
    });
    expect(await readProblemCode(response)).toBe("origin-outcome-unknown");
    expect(await response.text()).toBe(OUTCOME_UNKNOWN);
  });

  it("ignores a JSON body that is not declared a problem", async () => {
    const response = new Response(OUTCOME_UNKNOWN, {
      headers: { "Content-Type": "application/json" },
    });
    expect(await readProblemCode(response)).toBeUndefined();
  });

  it.each(ERROR_DIALECTS)(
    "reads the gateway's own code in the %s dialect, wherever the dialect keeps it",
    async (dialect) => {
      const problems: GatewayProblem[] = [
        { code: "origin-outcome-unknown", detail: "Timed out." },
        { code: "request-in-progress", retryAfterSeconds: 1 },
        { code: "idempotency-key-reused" },
      ];
      for (const problem of problems) {
        expect(await readProblemCode(problemResponse(problem, [], dialect))).toBe(problem.code);
      }
    },
  );

  it.each(["not json", "null", "[]", '{"code":42}'])(
    "gives undefined for the problem body %j",
    async (body) => {
      const response = new Response(body, {
        headers: { "Content-Type": "application/problem+json" },
      });
      expect(await readProblemCode(response)).toBeUndefined();
    },
  );
});
