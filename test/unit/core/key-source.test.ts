import { describe, expect, it } from "vitest";
import {
  DEFAULT_KEY_SOURCE,
  describeKeySource,
  keyFromHeader,
  keyFromJson,
  parseKeySource,
  type KeySource,
} from "../../../src/core/key-source";
import { parseStrictJson, type JsonValue } from "../../../src/core/strict-json";

function source(text: string): KeySource {
  const parsed = parseKeySource(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.source;
}

function headerSource(text: string): Extract<KeySource, { kind: "header" }> {
  const parsed = source(text);
  if (parsed.kind !== "header") throw new Error("not a header source");
  return parsed;
}

function jsonSource(text: string): Extract<KeySource, { kind: "json" }> {
  const parsed = source(text);
  if (parsed.kind !== "json") throw new Error("not a json source");
  return parsed;
}

function json(text: string): JsonValue {
  const result = parseStrictJson(new TextEncoder().encode(text));
  if (!result.ok) throw new Error(result.reason);
  return result.value;
}

const KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324";
const SQUARE = jsonSource("json:/idempotency_key");
const PAYPAL = headerSource("header:PayPal-Request-Id");

describe("parseKeySource", () => {
  it("reads the default as the Idempotency-Key header", () => {
    expect(source(DEFAULT_KEY_SOURCE)).toEqual({
      kind: "header",
      name: "Idempotency-Key",
      field: "idempotency-key",
    });
  });

  it.each<[string, KeySource]>([
    [
      "header:PayPal-Request-Id",
      { kind: "header", name: "PayPal-Request-Id", field: "paypal-request-id" },
    ],
    [
      "header:Cko-Idempotency-Key",
      { kind: "header", name: "Cko-Idempotency-Key", field: "cko-idempotency-key" },
    ],
    [
      "json:/idempotency_key",
      { kind: "json", pointer: "/idempotency_key", tokens: ["idempotency_key"] },
    ],
    [
      "json:/order/key~1id",
      { kind: "json", pointer: "/order/key~1id", tokens: ["order", "key/id"] },
    ],
    ["none", { kind: "none" }],
  ])("reads %j", (text, expected) => {
    expect(source(text)).toEqual(expected);
  });

  it.each([
    ["no kind", "Idempotency-Key"],
    ["an unknown kind", "query:key"],
    ["an empty header name", "header:"],
    ["a header name that is not a token", "header:Request Id"],
    ["a hop-by-hop header, never forwarded", "header:Connection"],
    ["the gateway's own hop header, replaced on the way", "header:Idempotency-Gateway-Hop"],
    ["a pointer without a leading /", "json:idempotency_key"],
    ["a pointer with a bad escape", "json:/a~2"],
    ["the whole document", "json:"],
    ["none in capitals", "NONE"],
  ])("refuses %s (%j), saying why", (_, text) => {
    const parsed = parseKeySource(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).not.toBe("");
  });
});

describe("describeKeySource", () => {
  it.each<[string, string]>([
    [DEFAULT_KEY_SOURCE, "the Idempotency-Key header"],
    ["header:PayPal-Request-Id", "the PayPal-Request-Id header"],
    ["json:/idempotency_key", "the JSON member /idempotency_key of the request body"],
  ])("names %j as %j", (text, expected) => {
    expect(describeKeySource(source(text))).toBe(expected);
  });
});

describe("keyFromHeader", () => {
  const DEFAULT = headerSource(DEFAULT_KEY_SOURCE);

  it("reads Idempotency-Key in its quoted form too", () => {
    expect(keyFromHeader(DEFAULT, `"${KEY}"`)).toEqual({ kind: "key", key: KEY });
  });

  it("reads another header as sent: a quote is part of its key", () => {
    expect(keyFromHeader(PAYPAL, KEY)).toEqual({ kind: "key", key: KEY });
    expect(keyFromHeader(PAYPAL, `"${KEY}"`)).toEqual({ kind: "key", key: `"${KEY}"` });
  });

  it("has no key when the header is absent", () => {
    expect(keyFromHeader(PAYPAL, null)).toEqual({ kind: "missing" });
  });

  it.each([
    ["empty", ""],
    ["256 characters", "k".repeat(256)],
    ["non-ASCII", "caf\u00e9"],
    ["two fields", "a, b"],
  ])("refuses another header's key when %s, naming that header", (_, value) => {
    const parsed = keyFromHeader(PAYPAL, value);
    expect(parsed.kind).toBe("invalid");
    if (parsed.kind === "invalid") {
      expect(parsed.reason).toContain("PayPal-Request-Id");
      expect(parsed.reason).not.toContain("quoted form");
    }
  });
});

describe("keyFromJson", () => {
  it("reads a string member", () => {
    expect(keyFromJson(SQUARE, json(`{"idempotency_key":"${KEY}","amount":1}`))).toEqual({
      kind: "key",
      key: KEY,
    });
  });

  it("reads the key as sent: quotes and commas are part of it", () => {
    expect(keyFromJson(SQUARE, json(String.raw`{"idempotency_key":"\"a, b\""}`))).toEqual({
      kind: "key",
      key: '"a, b"',
    });
  });

  it("reads a nested member", () => {
    const nested = jsonSource("json:/order/idempotency_key");
    expect(keyFromJson(nested, json('{"order":{"idempotency_key":"k1"}}'))).toEqual({
      kind: "key",
      key: "k1",
    });
  });

  it.each([
    ["there is no JSON body", undefined],
    ["the member is absent", json('{"amount":1}')],
    ["the body is not an object", json('["idempotency_key"]')],
  ])("has no key when %s", (_, document) => {
    expect(keyFromJson(SQUARE, document)).toEqual({ kind: "missing" });
  });

  it.each([
    ["null", "null", "not null"],
    ["a number", "42", "not a number"],
    ["a boolean", "true", "not a boolean"],
    ["an object", '{"k":"v"}', "not an object"],
    ["an array", '["k"]', "not an array"],
    ["empty", '""', "must not be empty"],
    ["256 characters", JSON.stringify("k".repeat(256)), "at most 255"],
    ["not printable ASCII", '"caf\\u00e9"', "printable ASCII"],
  ])("refuses a member that is %s, naming the member", (_, member, why) => {
    const parsed = keyFromJson(SQUARE, json(`{"idempotency_key":${member}}`));
    expect(parsed.kind).toBe("invalid");
    if (parsed.kind === "invalid") {
      expect(parsed.reason).toContain("JSON member /idempotency_key");
      expect(parsed.reason).toContain(why);
    }
  });

  it("accepts 255 characters", () => {
    const key = "k".repeat(255);
    expect(keyFromJson(SQUARE, json(`{"idempotency_key":"${key}"}`))).toEqual({ kind: "key", key });
  });
});
