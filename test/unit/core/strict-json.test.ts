import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { holdsExactly, parseStrictJson } from "../../../src/core/strict-json";

const encoder = new TextEncoder();

function parse(text: string) {
  return parseStrictJson(encoder.encode(text));
}

describe("parseStrictJson", () => {
  describe("valid JSON", () => {
    it.each([
      ["an object", '{"amount":1000,"currency":"usd"}'],
      ["an empty object and array", '{"a":{},"b":[]}'],
      ["nested arrays", "[[1,[2,[3]]],[]]"],
      ["every literal", "[true,false,null]"],
      ["numbers", "[0,-0,1.5,-2e10,3E-2,1e+2]"],
      ["escapes", String.raw`"\" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00"`],
      ["whitespace everywhere", ' \t\r\n{ "a" : [ 1 , 2 ] }\n'],
      ["a bare scalar", "42"],
    ])("reads %s as JSON.parse does", (_, text) => {
      const result = parse(text);
      expect(result.ok && result.value).toEqual(JSON.parse(text));
    });

    it("reads anything JSON.stringify writes, as JSON.parse does (property)", () => {
      fc.assert(
        fc.property(fc.jsonValue(), (value) => {
          const text = JSON.stringify(value);
          const result = parse(text);
          expect(result.ok).toBe(true);
          expect(result.ok && JSON.stringify(result.value)).toBe(JSON.stringify(JSON.parse(text)));
        }),
      );
    });

    it("keeps a member named __proto__ as a member, not as the object's prototype", () => {
      const result = parse('{"__proto__":{"admin":true},"constructor":1}');
      expect(result.ok).toBe(true);
      if (!result.ok) return;
      const value = result.value as Record<string, unknown>;
      expect(Object.keys(value)).toEqual(["__proto__", "constructor"]);
      expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
      expect("admin" in value).toBe(false);
    });

    it("ignores a leading byte order mark (RFC 8259 §8.1)", () => {
      const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...encoder.encode('{"a":1}')]);
      const result = parseStrictJson(bytes);
      expect(result.ok && result.value).toEqual({ a: 1 });
    });

    it("reads 100,000 levels of nesting without overflowing the stack", () => {
      const depth = 100_000;
      const result = parse("[".repeat(depth) + "]".repeat(depth));
      expect(result.ok).toBe(true);
      const object = parse('{"a":'.repeat(depth) + "1" + "}".repeat(depth));
      expect(object.ok).toBe(true);
    });
  });

  describe("malformed bodies", () => {
    it.each([
      ["nothing but whitespace", " "],
      ["a trailing comma in an array", "[1,]"],
      ["a trailing comma in an object", '{"a":1,}'],
      ["a missing colon", '{"a" 1}'],
      ["an unquoted name", "{a:1}"],
      ["single quotes", "{'a':1}"],
      ["a leading zero", "[01]"],
      ["a bare minus", "[-]"],
      ["a fraction without digits", "[1.]"],
      ["NaN", "[NaN]"],
      ["a raw control character in a string", '["a\tb"]'],
      ["a bad escape", String.raw`["\x41"]`],
      ["a short \\u escape", String.raw`["\u12"]`],
      ["an unterminated string", '["abc'],
      ["an unclosed array", "[1,2"],
      ["an unclosed object", '{"a":1'],
      ["text after the value", '{"a":1} x'],
      ["two values", "{} {}"],
      ["a misspelt literal", "[tru]"],
    ])("refuses %s", (_, text) => {
      const result = parse(text);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.reason).toMatch(/at character \d+$/);
    });

    it("refuses a body that is not UTF-8", () => {
      const result = parseStrictJson(new Uint8Array([0x22, 0xff, 0x22]));
      expect(result).toEqual({ ok: false, reason: "it is not valid UTF-8" });
    });

    it.each([
      ["at the top level", '{"amount":1,"amount":1000}'],
      ["in a nested object", '{"a":{"b":1,"b":2}}'],
      ["spelt with an escape", String.raw`{"amount":1,"\u0061mount":2}`],
      ["even with the same value", '{"a":1,"a":1}'],
      ["named __proto__", '{"__proto__":1,"__proto__":2}'],
    ])(
      "refuses a duplicate member name %s, which parsers read differently (RFC 7493 §2.3)",
      (_, text) => {
        const result = parse(text);
        expect(result.ok).toBe(false);
        if (!result.ok) expect(result.reason).toMatch(/member name is repeated/);
      },
    );

    it("accepts the same name in two different objects", () => {
      expect(parse('[{"a":1},{"a":2}]').ok).toBe(true);
    });

    it("does NOT quote the body back in its reason", () => {
      const result = parse('{"card":"4242424242424242","card":"x"}');
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.reason).not.toMatch(/4242|card/);
    });

    it("never throws, whatever the bytes (property)", () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
          parseStrictJson(bytes);
        }),
      );
      fc.assert(
        fc.property(
          fc.string({ unit: fc.constantFrom("{", "}", "[", "]", '"', ":", ",", "1", "a", "\\") }),
          (text) => {
            parse(text);
          },
        ),
      );
    });

    it("agrees with JSON.parse on what is JSON, but for duplicate names (property)", () => {
      fc.assert(
        fc.property(
          fc.string({ unit: fc.constantFrom("{", "}", "[", "]", '"', ":", ",", "1", "a", " ") }),
          (text) => {
            let valid = true;
            try {
              JSON.parse(text);
            } catch {
              valid = false;
            }
            const result = parse(text);
            if (!valid) expect(result.ok).toBe(false);
            else if (!result.ok) expect(result.reason).toMatch(/member name is repeated/);
          },
        ),
        { numRuns: 2000 },
      );
    });
  });

  describe("exact: whether RFC 8785 can represent the document without changing it", () => {
    it.each([
      ["integers", "[0,1,-1,9007199254740991]"],
      ["other spellings of one value", "[1.0,1e2,1E+2,100e-2,-0,0.0]"],
      ["shortest round-trip decimals", "[0.1,333333333.3333333,5e-324,1.7976931348623157e308]"],
      ["strings with escapes", String.raw`["\u00e9\ud83d\ude00"]`],
    ])("is true for %s", (_, text) => {
      const result = parse(text);
      expect(result.ok && result.exact).toBe(true);
    });

    it.each([
      ["an integer beyond 2^53 that a double rounds", '{"id":12345678901234567890}'],
      ["a decimal a double rounds", "[0.10000000000000001]"],
      ["a number too large for a double", "[1e400]"],
      ["a number too small for a double", "[1e-400]"],
      ["a lone high surrogate", String.raw`["\ud800"]`],
      ["a lone low surrogate in a name", String.raw`{"\udc00":1}`],
    ])("is false for %s", (_, text) => {
      const result = parse(text);
      expect(result.ok && result.exact).toBe(false);
    });
  });
});

describe("holdsExactly", () => {
  it.each<[string, boolean]>([
    ["1000", true],
    ["1e3", true],
    ["0.5", true],
    ["-0", true],
    ["0e999", true],
    ["9007199254740993", false],
    ["1.00000000000000001", false],
  ])("says %s → %s", (literal, expected) => {
    expect(holdsExactly(literal, Number(literal))).toBe(expected);
  });

  it("holds for every finite double written in its shortest form (property)", () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (value) => {
        expect(holdsExactly(JSON.stringify(value), value)).toBe(true);
      }),
    );
  });
});
