import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Field, lengthPrefixed, sha256Hex } from "../../../src/core/canonical-encoding";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** SHA-256 of the empty string (FIPS 180-2 test vector). */
const SHA256_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/** SHA-256 of "abc" (FIPS 180-2 test vector). */
const SHA256_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

/** Reads the fields back by their 4-byte big-endian length prefixes; throws on malformed input. */
function decodeLengthPrefixed(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fields: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.byteLength) {
    if (offset + 4 > bytes.byteLength) throw new Error("truncated length prefix");
    const length = view.getUint32(offset);
    const start = offset + 4;
    if (start + length > bytes.byteLength) throw new Error("truncated field");
    fields.push(bytes.slice(start, start + length));
    offset = start + length;
  }
  return fields;
}

function asBytes(field: Field): Uint8Array {
  return typeof field === "string" ? encoder.encode(field) : field;
}

/** Well-formed text (no lone surrogates, which UTF-8 cannot represent) or raw bytes. */
const field: fc.Arbitrary<Field> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.uint8Array({ maxLength: 64 }),
);

describe("lengthPrefixed", () => {
  it("writes each field as a 4-byte big-endian length followed by its bytes", () => {
    expect([...lengthPrefixed(["ab", "c"])]).toEqual([0, 0, 0, 2, 0x61, 0x62, 0, 0, 0, 1, 0x63]);
  });

  it("encodes text as UTF-8 and counts its length in bytes, not UTF-16 units", () => {
    expect([...lengthPrefixed(["é"])]).toEqual([0, 0, 0, 2, 0xc3, 0xa9]);
  });

  it("copies raw bytes unchanged, and an empty field as a zero length", () => {
    expect([...lengthPrefixed([new Uint8Array([0xff, 0x00]), ""])]).toEqual([
      0, 0, 0, 2, 0xff, 0x00, 0, 0, 0, 0,
    ]);
  });

  it("writes lengths of 256 and more across the prefix bytes (big-endian)", () => {
    const encoded = lengthPrefixed([new Uint8Array(0x0102)]);
    expect([...encoded.subarray(0, 4)]).toEqual([0, 0, 1, 2]);
    expect(encoded.byteLength).toBe(4 + 0x0102);
  });

  it("encodes no fields as no bytes", () => {
    expect(lengthPrefixed([]).byteLength).toBe(0);
  });

  it("does NOT encode fields that differ only in where one ends and the next begins alike", () => {
    expect(lengthPrefixed(["ab", "c"])).not.toEqual(lengthPrefixed(["a", "bc"]));
    expect(lengthPrefixed(["abc", ""])).not.toEqual(lengthPrefixed(["", "abc"]));
  });

  it("is recovered field by field by reading the length prefixes (property)", () => {
    fc.assert(
      fc.property(fc.array(field, { maxLength: 8 }), (fields) => {
        const decoded = decodeLengthPrefixed(lengthPrefixed(fields));
        expect(decoded).toEqual(fields.map(asBytes));
      }),
    );
  });

  it("round-trips text fields back to the same strings (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: "binary", maxLength: 40 }), { maxLength: 8 }),
        (texts) => {
          const decoded = decodeLengthPrefixed(lengthPrefixed(texts)).map((b) => decoder.decode(b));
          expect(decoded).toEqual(texts);
        },
      ),
    );
  });
});

describe("sha256Hex", () => {
  it("matches the FIPS 180-2 test vectors as lowercase hex", async () => {
    expect(await sha256Hex(new Uint8Array())).toBe(SHA256_EMPTY);
    expect(await sha256Hex(encoder.encode("abc"))).toBe(SHA256_ABC);
  });

  it("always answers 64 lowercase hex characters (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 256 }), async (bytes) => {
        expect(await sha256Hex(bytes)).toMatch(/^[0-9a-f]{64}$/);
      }),
    );
  });
});
