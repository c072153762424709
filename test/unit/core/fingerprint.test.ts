import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type FingerprintInput, fingerprint } from "../../../src/core/fingerprint";

const encoder = new TextEncoder();

const PAYMENT: FingerprintInput = {
  method: "POST",
  path: "/v1/payments",
  query: "expand=customer",
  body: encoder.encode('{"amount":1000,"currency":"eur"}'),
};

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i]);
}

function sameInput(a: FingerprintInput, b: FingerprintInput): boolean {
  return (
    a.method === b.method && a.path === b.path && a.query === b.query && bytesEqual(a.body, b.body)
  );
}

/**
 * Request parts over a small alphabet, so that different tuples often hold the same bytes split
 * differently across fields — the collisions a delimiter-joined encoding would have.
 */
const smallText = fc.string({
  unit: fc.constantFrom("a", "b", "/", "?", "=", "&", "\n", "\0"),
  maxLength: 6,
});
const fingerprintInput: fc.Arbitrary<FingerprintInput> = fc.record({
  method: fc.oneof(fc.constantFrom("POST", "PATCH", "PUT"), smallText),
  path: smallText,
  query: smallText,
  body: smallText.map((text) => encoder.encode(text)),
});

describe("fingerprint", () => {
  it("is a SHA-256 in lowercase hex", async () => {
    expect(await fingerprint(PAYMENT)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("is the same for the same request (deterministic)", async () => {
    const copy: FingerprintInput = { ...PAYMENT, body: PAYMENT.body.slice() };
    expect(await fingerprint(copy)).toBe(await fingerprint(PAYMENT));
  });

  it.each<[string, Partial<FingerprintInput>]>([
    ["the method", { method: "PATCH" }],
    ["the method's case", { method: "post" }],
    ["the path", { path: "/v1/refunds" }],
    ["the path's percent-encoding", { path: "/v1/pay%6Dents" }],
    ["the query", { query: "expand=charge" }],
    ["the presence of a query", { query: "" }],
    ["the body", { body: encoder.encode('{"amount":1001,"currency":"eur"}') }],
    ["the presence of a body", { body: new Uint8Array() }],
  ])("differs when %s differs", async (_name, change) => {
    expect(await fingerprint({ ...PAYMENT, ...change })).not.toBe(await fingerprint(PAYMENT));
  });

  it.each<[string, FingerprintInput, FingerprintInput]>([
    [
      "path and query",
      { method: "POST", path: "/ab", query: "", body: new Uint8Array() },
      { method: "POST", path: "/a", query: "b", body: new Uint8Array() },
    ],
    [
      "query and body",
      { method: "POST", path: "/p", query: "a=1", body: new Uint8Array() },
      { method: "POST", path: "/p", query: "", body: encoder.encode("a=1") },
    ],
    [
      "method and path",
      { method: "POST/", path: "x", query: "", body: new Uint8Array() },
      { method: "POST", path: "/x", query: "", body: new Uint8Array() },
    ],
    [
      "a delimiter inside a field",
      { method: "POST", path: "/p\nq", query: "", body: new Uint8Array() },
      { method: "POST", path: "/p", query: "q", body: new Uint8Array() },
    ],
  ])("does NOT collide when bytes move across the %s boundary", async (_name, a, b) => {
    expect(await fingerprint(a)).not.toBe(await fingerprint(b));
  });

  it("gives distinct requests distinct fingerprints, however their bytes are split (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fingerprintInput, fingerprintInput, async (a, b) => {
        fc.pre(!sameInput(a, b));
        expect(await fingerprint(a)).not.toBe(await fingerprint(b));
      }),
      { numRuns: 300 },
    );
  });

  it("does NOT collide when the same bytes are cut into path, query and body at other places (property)", async () => {
    const cuts = fc.tuple(fc.nat(), fc.nat());
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 12 }),
        cuts,
        cuts,
        async (text, x, y) => {
          const split = ([first, second]: [number, number]): FingerprintInput => {
            const i = Math.min(first, second) % (text.length + 1);
            const j = i + (Math.max(first, second) % (text.length + 1 - i));
            return {
              method: "POST",
              path: text.slice(0, i),
              query: text.slice(i, j),
              body: encoder.encode(text.slice(j)),
            };
          };
          const a = split(x);
          const b = split(y);
          fc.pre(!sameInput(a, b));
          expect(await fingerprint(a)).not.toBe(await fingerprint(b));
        },
      ),
    );
  });

  it("gives every request in a set of distinct requests its own fingerprint (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fingerprintInput, { minLength: 2, maxLength: 20, comparator: sameInput }),
        async (inputs) => {
          const prints = await Promise.all(inputs.map((input) => fingerprint(input)));
          expect(new Set(prints).size).toBe(inputs.length);
        },
      ),
      { numRuns: 50 },
    );
  });

  it("is the same for equal requests however they are built (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fingerprintInput, async (input) => {
        const copy: FingerprintInput = { ...input, body: input.body.slice() };
        expect(await fingerprint(copy)).toBe(await fingerprint(input));
      }),
    );
  });
});
