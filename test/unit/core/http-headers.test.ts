import { describe, expect, it } from "vitest";
import { endToEndHeaders } from "../../../src/core/http-headers";

/** RFC 9110 §7.6.1 hop-by-hop fields, plus those the runtime recomputes. */
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "host",
  "content-length",
] as const;

const END_TO_END: readonly [string, string][] = [
  ["authorization", "Bearer sk_test_123"],
  ["content-type", "application/json"],
  ["etag", '"v1"'],
  ["idempotency-key", "8e03978e"],
  ["x-request-id", "req_1"],
];

function headersOf(pairs: readonly (readonly [string, string])[]): Headers {
  const headers = new Headers();
  for (const [name, value] of pairs) headers.append(name, value);
  return headers;
}

function names(pairs: readonly [string, string][]): string[] {
  return pairs.map(([name]) => name);
}

describe("endToEndHeaders", () => {
  it("keeps every end-to-end field with its value", () => {
    expect(endToEndHeaders(headersOf(END_TO_END))).toEqual(END_TO_END);
  });

  it.each(HOP_BY_HOP)("drops %s", (name) => {
    const headers = headersOf([...END_TO_END, [name, "1"]]);
    const out = endToEndHeaders(headers);
    expect(names(out)).not.toContain(name);
    expect(out).toEqual(END_TO_END);
  });

  it("drops every field named in Connection, whatever its case and spacing", () => {
    const headers = headersOf([
      ["connection", "close, X-Hop ,x-other-hop"],
      ["x-hop", "1"],
      ["x-other-hop", "2"],
      ["x-kept", "3"],
    ]);
    expect(endToEndHeaders(headers)).toEqual([["x-kept", "3"]]);
  });

  it("does NOT drop fields when Connection is absent or lists nothing", () => {
    expect(endToEndHeaders(headersOf([["x-kept", "1"]]))).toEqual([["x-kept", "1"]]);
    expect(
      endToEndHeaders(
        headersOf([
          ["connection", " , "],
          ["x-kept", "1"],
        ]),
      ),
    ).toEqual([["x-kept", "1"]]);
  });

  it("keeps one pair per Set-Cookie, commas inside cookies intact", () => {
    const headers = headersOf([
      ["set-cookie", "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT"],
      ["set-cookie", "b=2; Path=/"],
      ["content-type", "text/plain"],
    ]);
    expect(endToEndHeaders(headers)).toEqual([
      ["content-type", "text/plain"],
      ["set-cookie", "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT"],
      ["set-cookie", "b=2; Path=/"],
    ]);
  });

  it("does NOT keep a Set-Cookie that Connection names", () => {
    const headers = headersOf([
      ["connection", "set-cookie"],
      ["set-cookie", "a=1"],
    ]);
    expect(endToEndHeaders(headers)).toEqual([]);
  });

  it("answers no pairs for no headers", () => {
    expect(endToEndHeaders(new Headers())).toEqual([]);
  });

  it("does NOT change the Headers it reads", () => {
    const headers = headersOf([...END_TO_END, ["connection", "close"]]);
    endToEndHeaders(headers);
    expect(headers.get("connection")).toBe("close");
  });
});
