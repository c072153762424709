import { describe, expect, it } from "vitest";
import { readProblemCode } from "../../../src/client/problem";

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
