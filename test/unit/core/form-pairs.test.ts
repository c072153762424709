import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formPairs } from "../../../src/core/form-pairs";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The pairs as text, for readable expectations. */
function pairs(body: string): [string, string][] {
  return formPairs(encoder.encode(body)).map(([name, value]) => [
    decoder.decode(name),
    decoder.decode(value),
  ]);
}

describe("formPairs", () => {
  it("sorts the pairs by name", () => {
    expect(pairs("currency=usd&amount=1000")).toEqual([
      ["amount", "1000"],
      ["currency", "usd"],
    ]);
  });

  it("keeps the values of a repeated name in the order sent", () => {
    expect(pairs("items[]=b&amount=1&items[]=a")).toEqual([
      ["amount", "1"],
      ["items[]", "b"],
      ["items[]", "a"],
    ]);
    expect(pairs("a=2&a=1")).not.toEqual(pairs("a=1&a=2"));
  });

  it("decodes + and percent-escapes, so other encodings of the same pairs compare equal", () => {
    expect(pairs("note=a+b%21&%6Eame=%E2%82%AC")).toEqual([
      ["name", "€"],
      ["note", "a b!"],
    ]);
    expect(pairs("note=a%20b")).toEqual(pairs("note=a+b"));
  });

  it("keeps an encoded + as a plus, not a space", () => {
    expect(pairs("a=%2B")).toEqual([["a", "+"]]);
  });

  it("drops empty pieces and reads a piece without = as an empty value (URL Standard §5.1)", () => {
    expect(pairs("&a=1&&b&")).toEqual([
      ["a", "1"],
      ["b", ""],
    ]);
    expect(pairs("b=")).toEqual(pairs("b"));
  });

  it("keeps a malformed percent-escape as written", () => {
    expect(pairs("a=%G1&b=%")).toEqual([
      ["a", "%G1"],
      ["b", "%"],
    ]);
  });

  it("keeps bytes that are not UTF-8 distinct, instead of turning them all into U+FFFD", () => {
    const [ff] = formPairs(encoder.encode("a=%FF"));
    const [fe] = formPairs(encoder.encode("a=%FE"));
    expect([...(ff?.[1] ?? [])]).toEqual([0xff]);
    expect([...(fe?.[1] ?? [])]).toEqual([0xfe]);
  });

  it("reads an empty body as no pairs", () => {
    expect(formPairs(new Uint8Array())).toEqual([]);
  });

  it("gives the same pairs for any order of the same pieces that keeps each name's values in order (property)", () => {
    const piece = fc.tuple(fc.constantFrom("a", "b", "c"), fc.string({ maxLength: 3 }));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }), fc.integer(), (list, seed) => {
        const encode = (items: [string, string][]) =>
          items.map(([n, v]) => `${n}=${encodeURIComponent(v)}`).join("&");
        // Interleave the names differently, keeping each name's values in order.
        const byName = ["a", "b", "c"].map((n) => list.filter(([name]) => name === n));
        const shuffled: [string, string][] = [];
        let turn = Math.abs(seed);
        while (byName.some((group) => group.length > 0)) {
          const group = byName[turn++ % 3];
          const next = group?.shift();
          if (next !== undefined) shuffled.push(next);
        }
        expect(formPairs(encoder.encode(encode(shuffled)))).toEqual(
          formPairs(encoder.encode(encode(list))),
        );
      }),
    );
  });
});
