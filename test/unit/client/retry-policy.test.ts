import { describe, expect, it } from "vitest";
import { classifyAnswer } from "../../../src/client";

describe("classifyAnswer", () => {
  it.each([409, 429, 502, 503, 504])("retries a first-time %i", (status) => {
    expect(classifyAnswer({ status, replayed: false })).toBe("retry");
  });

  it.each([200, 201, 301, 400, 401, 404, 413, 422, 500])("does NOT retry a %i", (status) => {
    expect(classifyAnswer({ status, replayed: false })).toBe("final");
  });

  it.each([409, 429, 502, 503, 504])("does NOT retry a replayed %i", (status) => {
    expect(classifyAnswer({ status, replayed: true })).toBe("final");
  });

  it("calls the gateway's 504 origin-outcome-unknown unknown, replayed or not", () => {
    const problemCode = "origin-outcome-unknown";
    expect(classifyAnswer({ status: 504, replayed: false, problemCode })).toBe("unknown");
    expect(classifyAnswer({ status: 504, replayed: true, problemCode })).toBe("unknown");
  });

  it("does NOT call a 504 with another problem code unknown", () => {
    expect(classifyAnswer({ status: 504, replayed: false, problemCode: "timeout" })).toBe("retry");
  });
});
