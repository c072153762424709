import { describe, expect, it } from "vitest";
import { parseJsonPointer, resolveJsonPointer } from "../../../src/core/json-pointer";
import { parseStrictJson, type JsonValue } from "../../../src/core/strict-json";

function json(text: string): JsonValue {
  const result = parseStrictJson(new TextEncoder().encode(text));
  if (!result.ok) throw new Error(result.reason);
  return result.value;
}

function resolve(document: JsonValue, pointer: string): JsonValue | undefined {
  const parsed = parseJsonPointer(pointer);
  if (!parsed.ok) throw new Error(parsed.reason);
  return resolveJsonPointer(document, parsed.pointer);
}

/** RFC 6901 §5: the example document. */
const RFC_DOCUMENT = json(String.raw`{
  "foo": ["bar", "baz"],
  "": 0,
  "a/b": 1,
  "c%d": 2,
  "e^f": 3,
  "g|h": 4,
  "i\\j": 5,
  "k\"l": 6,
  " ": 7,
  "m~n": 8
}`);

describe("parseJsonPointer", () => {
  it.each<[string, string[]]>([
    ["", []],
    ["/", [""]],
    ["/idempotency_key", ["idempotency_key"]],
    ["/a/b/0", ["a", "b", "0"]],
    ["/a~1b", ["a/b"]],
    ["/m~0n", ["m~n"]],
    // RFC 6901 §4: "~01" is "~1" ("~0" unescaped after "~1"), never "/".
    ["/~01", ["~1"]],
    ["/~10", ["/0"]],
    ["//", ["", ""]],
  ])("parses %j into the tokens %j", (text, tokens) => {
    expect(parseJsonPointer(text)).toEqual({ ok: true, pointer: tokens });
  });

  it.each(["idempotency_key", "#/a", "/a~", "/a~2", "/~a", "/a~~0"])(
    "refuses %j, saying what is wrong",
    (text) => {
      const result = parseJsonPointer(text);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.reason).not.toBe("");
    },
  );
});

describe("resolveJsonPointer", () => {
  it.each<[string, unknown]>([
    ["", RFC_DOCUMENT],
    ["/foo", ["bar", "baz"]],
    ["/foo/0", "bar"],
    ["/", 0],
    ["/a~1b", 1],
    ["/c%d", 2],
    ["/e^f", 3],
    ["/g|h", 4],
    ["/i\\j", 5],
    ['/k"l', 6],
    ["/ ", 7],
    ["/m~0n", 8],
  ])("resolves the RFC 6901 §5 example %j", (pointer, expected) => {
    expect(resolve(RFC_DOCUMENT, pointer)).toEqual(expected);
  });

  it.each([
    ["a missing member", "/missing"],
    ["an index past the end", "/foo/2"],
    ["the element after the last (-)", "/foo/-"],
    ["an index with a leading zero", "/foo/01"],
    ["a non-numeric index", "/foo/x"],
    ["a step into a string", "/foo/0/0"],
    ["a step into a number", "/a~1b/x"],
    ["an inherited property", "/constructor"],
    ["an inherited property of an array", "/foo/length"],
    ["__proto__ when no such member exists", "/__proto__"],
  ])("finds nothing for %s", (_, pointer) => {
    expect(resolve(RFC_DOCUMENT, pointer)).toBeUndefined();
  });

  it("finds a member named __proto__ when the body has one", () => {
    expect(resolve(json('{"__proto__":{"key":"k"}}'), "/__proto__/key")).toBe("k");
  });

  it("reads null as a value, not as nothing", () => {
    expect(resolve(json('{"idempotency_key":null}'), "/idempotency_key")).toBeNull();
  });
});
