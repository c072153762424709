import { describe, expect, it } from "vitest";
import { parseBody } from "../../../src/core/request-body";

const encoder = new TextEncoder();

describe("parseBody", () => {
  it("reads an empty body with a JSON content type as no body, never a parse error", () => {
    expect(parseBody(new Uint8Array(), "application/json", { parseJson: true })).toEqual({
      ok: true,
      body: { bytes: new Uint8Array(), format: "empty" },
    });
  });

  it("parses a JSON body when asked", () => {
    const result = parseBody(encoder.encode('{"a":1}'), "application/json", { parseJson: true });
    expect(result.ok && result.body.json).toEqual({ value: { a: 1 }, exact: true });
  });

  it("does NOT parse a JSON body when not asked: a malformed one is only bytes then", () => {
    const result = parseBody(encoder.encode("{"), "application/json", { parseJson: false });
    expect(result.ok && result.body.format).toBe("json");
    expect(result.ok && result.body.json).toBeUndefined();
  });

  it("refuses a malformed JSON body it must parse", () => {
    const result = parseBody(encoder.encode("{"), "application/problem+json", { parseJson: true });
    expect(result.ok).toBe(false);
  });

  it("does NOT parse a body of another type, even one that looks like JSON", () => {
    const result = parseBody(encoder.encode("{"), "text/plain", { parseJson: true });
    expect(result).toEqual({ ok: true, body: { bytes: encoder.encode("{"), format: "other" } });
  });
});
