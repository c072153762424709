import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../../src/core/canonical-json";
import { parseStrictJson, type JsonValue } from "../../../src/core/strict-json";

const encoder = new TextEncoder();

function parsed(text: string): { value: JsonValue; exact: boolean } {
  const result = parseStrictJson(encoder.encode(text));
  if (!result.ok) throw new Error(`expected JSON, got: ${result.reason}`);
  return result;
}

function canonical(text: string): string {
  return canonicalJson(parsed(text).value);
}

/** A double from the 16 hex digits of its IEEE 754 bits, as RFC 8785 Appendix B lists them. */
function double(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

/**
 * RFC 8785 Appendix B, "Number Serialization Samples": IEEE 754 bits and their JSON text,
 * copied from the RFC. NaN and Infinity (also listed there) have no JSON form: see below.
 */
const APPENDIX_B: readonly (readonly [hex: string, json: string])[] = [
  ["0000000000000000", "0"],
  ["8000000000000000", "0"], // minus zero
  ["0000000000000001", "5e-324"],
  ["8000000000000001", "-5e-324"],
  ["7fefffffffffffff", "1.7976931348623157e+308"],
  ["ffefffffffffffff", "-1.7976931348623157e+308"],
  ["4340000000000000", "9007199254740992"],
  ["c340000000000000", "-9007199254740992"],
  ["4430000000000000", "295147905179352830000"],
  ["44b52d02c7e14af5", "9.999999999999997e+22"],
  ["44b52d02c7e14af6", "1e+23"],
  ["44b52d02c7e14af7", "1.0000000000000001e+23"],
  ["444b1ae4d6e2ef4e", "999999999999999700000"],
  ["444b1ae4d6e2ef4f", "999999999999999900000"],
  ["444b1ae4d6e2ef50", "1e+21"],
  ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"],
  ["3eb0c6f7a0b5ed8d", "0.000001"],
  ["41b3de4355555553", "333333333.3333332"],
  ["41b3de4355555554", "333333333.33333325"],
  ["41b3de4355555555", "333333333.3333333"],
  ["41b3de4355555556", "333333333.3333334"],
  ["41b3de4355555557", "333333333.33333343"],
  ["becbf647612f3696", "-0.0000033333333333333333"],
  ["43143ff3c1cb0959", "1424953923781206.2"], // round to even
];

/** RFC 8785 §3.2.2, the example input, as the RFC prints it. */
const RFC_INPUT = String.raw`{
  "numbers": [333333333.33333329, 1E30, 4.50,
              2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`;

/** RFC 8785 §3.2.2, the example output. */
const RFC_OUTPUT = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`;

/** RFC 8785 §3.2.4: the example output encoded as UTF-8, byte by byte, as the RFC prints it. */
const RFC_OUTPUT_UTF8 = `
  7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72
  75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a
  5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31
  65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37
  5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30
  30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d`;

/** RFC 8785 §3.2.3, the sorting example: names that sort differently by code point and unit. */
const SORTING_INPUT = String.raw`{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`;

/** RFC 8785 §3.2.3: the values in the order the members must come out. */
const SORTED_VALUES = [
  "Carriage Return",
  "One",
  "Control",
  "Latin Small Letter O With Diaeresis",
  "Euro Sign",
  "Emoji: Grinning Face",
  "Hebrew Letter Dalet With Dagesh",
];

describe("canonicalJson (RFC 8785)", () => {
  describe("Appendix B: number serialization samples", () => {
    it.each(APPENDIX_B)("serializes the double %s as %s", (hex, json) => {
      expect(canonicalJson(double(hex))).toBe(json);
      expect(canonicalJson([double(hex)])).toBe(`[${json}]`);
    });

    it.each([
      ["7fffffffffffffff", "NaN"],
      ["7ff0000000000000", "Infinity"],
    ])("refuses the double %s (%s), which JSON cannot express", (hex) => {
      expect(() => canonicalJson(double(hex))).toThrow();
    });
  });

  describe("§3.2.2: the example", () => {
    it("canonicalizes the RFC's input to the RFC's output", () => {
      expect(canonical(RFC_INPUT)).toBe(RFC_OUTPUT);
    });

    it("gives the RFC's UTF-8 bytes (§3.2.4)", () => {
      const expected = RFC_OUTPUT_UTF8.trim()
        .split(/\s+/)
        .map((hex) => parseInt(hex, 16));
      expect([...encoder.encode(canonical(RFC_INPUT))]).toEqual(expected);
    });

    it("reports the example as NOT exact: 333333333.33333329 is not the value its double holds", () => {
      // The gateway then compares such a body by its bytes (fingerprint.ts, `comparedBody`).
      expect(parsed(RFC_INPUT).exact).toBe(false);
      expect(parsed(RFC_INPUT.replace("333333333.33333329", "333333333.3333333")).exact).toBe(true);
    });
  });

  describe("§3.2.3: sorting", () => {
    it("sorts member names by their UTF-16 code units, not by code points", () => {
      // Read in text order: JSON.parse would list the integer-like name "1" first.
      const values = [...canonical(SORTING_INPUT).matchAll(/":"([^"]*)"/g)].map((m) => m[1]);
      expect(values).toEqual(SORTED_VALUES);
    });

    it("writes the sorted example exactly, non-ASCII characters unescaped", () => {
      expect(canonical(SORTING_INPUT)).toBe(
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
      );
    });

    it("sorts nested objects too, and keeps array order", () => {
      expect(canonical('{"b":[3,1,{"z":1,"a":2}],"a":{"d":null,"c":true}}')).toBe(
        '{"a":{"c":true,"d":null},"b":[3,1,{"a":2,"z":1}]}',
      );
    });
  });

  describe("what a client's serializer may change between retries", () => {
    it.each([
      ["member order", '{"amount":1000,"currency":"usd"}', '{"currency":"usd","amount":1000}'],
      ["whitespace", '{"amount":1000}', '{\n  "amount" : 1000\n}\n'],
      ["number spelling", '{"amount":1000}', '{"amount":1.0E3}'],
      ["string escapes", '{"note":"A/é"}', '{"note":"\\u0041\\/\\u00e9"}'],
    ])("does NOT change the canonical form: %s", (_, a, b) => {
      expect(canonical(a)).toBe(canonical(b));
    });

    it.each([
      ["a value", '{"amount":1000}', '{"amount":1001}'],
      ["a type", '{"amount":1000}', '{"amount":"1000"}'],
      ["array order", '{"items":[1,2]}', '{"items":[2,1]}'],
      ["a member", '{"amount":1000}', '{"amount":1000,"capture":false}'],
    ])("changes with %s", (_, a, b) => {
      expect(canonical(a)).not.toBe(canonical(b));
    });
  });
});
