import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_KEY_LENGTH, parseIdempotencyKey } from "../../../src/core/idempotency-key";

const UUID_KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324";
const LONGEST_KEY = "k".repeat(MAX_KEY_LENGTH);
const TOO_LONG_KEY = "k".repeat(MAX_KEY_LENGTH + 1);
/** "é" as workerd hands a non-ASCII header byte to JavaScript: one latin1 char (0xE9). */
const LATIN1_E_ACUTE = String.fromCharCode(0xe9);

/** RFC 8941 §4.1.6: serialize a String as an sf-string. */
function sfString(key: string): string {
  return `"${key.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`;
}

function isPrintableAscii(ch: string): boolean {
  const code = ch.charCodeAt(0);
  return code >= 0x20 && code <= 0x7e;
}

const printableAscii = (constraints: { minLength?: number; maxLength?: number }) =>
  fc.string({ unit: "grapheme-ascii", ...constraints });

/** Any char a header value can hold as JavaScript sees it: latin1 bytes 0x00–0xFF. */
const latin1Char = fc.integer({ min: 0, max: 0xff }).map((code) => String.fromCharCode(code));

/** A char outside 0x20–0x7E that is not optional whitespace (a tab at either end is trimmed). */
const nonPrintableChar = fc
  .oneof(
    fc.integer({ min: 0x00, max: 0x1f }),
    fc.integer({ min: 0x7f, max: 0xff }),
    fc.integer({ min: 0x100, max: 0xffff }),
  )
  .filter((code) => code !== 0x09)
  .map((code) => String.fromCharCode(code));

describe("parseIdempotencyKey", () => {
  describe("accepts", () => {
    it("a bare key as that key", () => {
      expect(parseIdempotencyKey(UUID_KEY)).toEqual({ kind: "key", key: UUID_KEY });
    });

    it("the sf-string form as the same key as the bare form", () => {
      expect(parseIdempotencyKey(`"${UUID_KEY}"`)).toEqual(parseIdempotencyKey(UUID_KEY));
    });

    it('unescapes \\" and \\\\ inside an sf-string', () => {
      expect(parseIdempotencyKey('"say \\"hi\\" \\\\o/"')).toEqual({
        kind: "key",
        key: 'say "hi" \\o/',
      });
    });

    it("a one-character key", () => {
      expect(parseIdempotencyKey("a")).toEqual({ kind: "key", key: "a" });
    });

    it("a key of exactly 255 characters, bare and quoted", () => {
      expect(parseIdempotencyKey(LONGEST_KEY)).toEqual({ kind: "key", key: LONGEST_KEY });
      expect(parseIdempotencyKey(`"${LONGEST_KEY}"`)).toEqual({ kind: "key", key: LONGEST_KEY });
    });

    it("a quoted key of 255 characters whose escapes make the field longer", () => {
      const key = '"'.repeat(MAX_KEY_LENGTH);
      expect(parseIdempotencyKey(sfString(key))).toEqual({ kind: "key", key });
    });

    it("a key containing spaces inside it", () => {
      expect(parseIdempotencyKey("order 42")).toEqual({ kind: "key", key: "order 42" });
    });

    it('a key containing ", " when it is sent quoted', () => {
      expect(parseIdempotencyKey('"a, b"')).toEqual({ kind: "key", key: "a, b" });
    });

    it("a bare key containing a comma without a following space", () => {
      expect(parseIdempotencyKey("a,b")).toEqual({ kind: "key", key: "a,b" });
    });

    it("ignores optional whitespace around the field value (RFC 9110 §5.5)", () => {
      expect(parseIdempotencyKey(` \t${UUID_KEY}\t `)).toEqual({ kind: "key", key: UUID_KEY });
      expect(parseIdempotencyKey(` "${UUID_KEY}" `)).toEqual({ kind: "key", key: UUID_KEY });
    });

    it("keeps whitespace inside the quotes as part of the key", () => {
      expect(parseIdempotencyKey('" padded "')).toEqual({ kind: "key", key: " padded " });
    });
  });

  describe("rejects", () => {
    const INVALID_VALUES: readonly (readonly [string, string])[] = [
      ["an empty value", ""],
      ["a value of only whitespace", "   "],
      ["an empty sf-string", '""'],
      ["a bare key of 256 characters", TOO_LONG_KEY],
      ["a quoted key of 256 characters", `"${TOO_LONG_KEY}"`],
      ["a bare key with a control character", "abc\u0001def"],
      ["a bare key with a tab inside it", "abc\tdef"],
      ["a bare key with DEL (0x7F)", "abc\u007fdef"],
      ["a quoted key with a control character", '"abc\u0000def"'],
      ["a quoted key with a tab inside the quotes", '"abc\tdef"'],
      ["a bare non-ASCII key (é as a latin1 byte)", `caf${LATIN1_E_ACUTE}`],
      ["a quoted non-ASCII key (é as a latin1 byte)", `"caf${LATIN1_E_ACUTE}"`],
      ["a non-ASCII key as a UTF-16 string", "café"],
      ["a backslash followed by a letter", '"bad \\n escape"'],
      ["a trailing lone backslash inside the quotes", '"abc\\"'],
      ["a backslash as the last character", '"abc\\'],
      ["an unterminated sf-string", '"unterminated'],
      ["a lone double quote", '"'],
      ["text after the closing quote", '"abc"def'],
      ["an sf-string with parameters", '"abc";p=1'],
      ["two sf-string fields joined by the Fetch API", '"a", "b"'],
      ["two bare fields joined by the Fetch API", "a, b"],
      ["a quoted and a bare field joined by the Fetch API", '"a", b'],
      ["a bare and a quoted field joined by the Fetch API", 'a, "b"'],
      ["a bare field and an empty field joined by the Fetch API", "abc, "],
      ["a bare key ending with a comma (the same value, once trimmed)", "abc,"],
    ];

    it.each(INVALID_VALUES)("%s", (_name, value) => {
      const result = parseIdempotencyKey(value);
      expect(result.kind).toBe("invalid");
      if (result.kind === "invalid") expect(result.reason).not.toBe("");
    });

    it("does NOT quote the rejected key back in its reason", () => {
      const result = parseIdempotencyKey(`secret-${LATIN1_E_ACUTE}`);
      expect(result.kind).toBe("invalid");
      if (result.kind === "invalid") expect(result.reason).not.toContain("secret");
    });
  });

  it("reports an absent header (null) as missing, not invalid", () => {
    expect(parseIdempotencyKey(null)).toEqual({ kind: "missing" });
  });

  describe("properties", () => {
    it("never throws, whatever the header value", () => {
      fc.assert(
        fc.property(
          fc.oneof(fc.string({ unit: latin1Char }), fc.string({ unit: "binary" })),
          (value) => {
            const result = parseIdempotencyKey(value);
            expect(["key", "invalid"]).toContain(result.kind);
          },
        ),
      );
    });

    it("parses every bare printable-ASCII key of 1..255 chars to itself", () => {
      const bareKey = printableAscii({ minLength: 1, maxLength: MAX_KEY_LENGTH }).filter(
        (key) =>
          !key.includes(", ") &&
          !key.endsWith(",") &&
          !key.startsWith('"') &&
          // Leading and trailing spaces are optional whitespace around the field, not the key.
          key.trim() === key,
      );
      fc.assert(
        fc.property(bareKey, (key) => {
          expect(parseIdempotencyKey(key)).toEqual({ kind: "key", key });
        }),
      );
    });

    it("parses the sf-string serialization of every printable-ASCII key of 1..255 chars back to the key", () => {
      fc.assert(
        fc.property(printableAscii({ minLength: 1, maxLength: MAX_KEY_LENGTH }), (key) => {
          expect(parseIdempotencyKey(sfString(key))).toEqual({ kind: "key", key });
        }),
      );
    });

    it("gives the bare and quoted forms of a key the same result", () => {
      const bareKey = printableAscii({ minLength: 1, maxLength: MAX_KEY_LENGTH }).filter(
        (key) =>
          !key.includes(", ") && !key.endsWith(",") && !key.startsWith('"') && key.trim() === key,
      );
      fc.assert(
        fc.property(bareKey, (key) => {
          expect(parseIdempotencyKey(sfString(key))).toEqual(parseIdempotencyKey(key));
        }),
      );
    });

    it("rejects every key longer than 255 printable-ASCII chars, bare or quoted", () => {
      fc.assert(
        fc.property(printableAscii({ minLength: MAX_KEY_LENGTH + 1, maxLength: 600 }), (key) => {
          expect(parseIdempotencyKey(sfString(key)).kind).toBe("invalid");
          if (!key.startsWith('"') && key.trim() === key) {
            expect(parseIdempotencyKey(key).kind).toBe("invalid");
          }
        }),
      );
    });

    it("rejects every key holding a char outside 0x20–0x7E, bare or quoted", () => {
      fc.assert(
        fc.property(
          fc.string({ unit: latin1Char, maxLength: 100 }),
          nonPrintableChar,
          fc.string({ unit: latin1Char, maxLength: 100 }),
          (before, bad, after) => {
            const key = before + bad + after;
            expect(isPrintableAscii(bad)).toBe(false);
            expect(parseIdempotencyKey(key).kind).toBe("invalid");
            expect(parseIdempotencyKey(sfString(key)).kind).toBe("invalid");
          },
        ),
      );
    });

    it("rejects every pair of fields joined by the Fetch API", () => {
      const field = printableAscii({ minLength: 1, maxLength: 50 }).map(sfString);
      fc.assert(
        fc.property(field, field, (first, second) => {
          expect(parseIdempotencyKey(`${first}, ${second}`).kind).toBe("invalid");
        }),
      );
    });
  });
});
