import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type FingerprintInput,
  type FingerprintMode,
  comparedBody,
  fingerprint,
  fingerprintOf,
} from "../../../src/core/fingerprint";
import { parseBody } from "../../../src/core/request-body";

const encoder = new TextEncoder();

const PAYMENT: FingerprintInput = {
  method: "POST",
  path: "/v1/payments",
  query: "expand=customer",
  body: encoder.encode('{"amount":1000,"currency":"eur"}'),
};

/**
 * The documented fingerprint encoding (docs/adr/0004), written out again here rather than
 * imported from src/core, so the code is checked against the document and not against itself:
 * the fields `fingerprint/v1`, the method, the path, the query (no `?`) and the body bytes, each
 * a 4-byte big-endian byte length followed by its bytes (text as UTF-8).
 */
function documentedEncoding({ method, path, query, body }: FingerprintInput): Uint8Array {
  const bytes: number[] = [];
  for (const field of ["fingerprint/v1", method, path, query, body]) {
    const raw = typeof field === "string" ? encoder.encode(field) : field;
    const n = raw.byteLength;
    bytes.push((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff, ...raw);
  }
  return Uint8Array.from(bytes);
}

/** SHA-256 as lowercase hex, straight from WebCrypto. */
async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

const JSON_BODY = encoder.encode('{"amount":1000,"currency":"usd"}');

/** One known answer: a request and its fingerprint. */
interface FingerprintVector {
  name: string;
  input: FingerprintInput;
  fingerprint: string;
}

/**
 * Known answers, computed once (outside this code, with Node's `crypto`) and written down.
 *
 * DO NOT EDIT these digests to make a test pass. Every stored record keeps the fingerprint of its
 * first request, so a change of any digest invalidates every stored fingerprint: each honest
 * retry of a stored key would be refused with 422 idempotency-key-reused. An encoding change must
 * come with a new version tag (`fingerprint/v1`), and only then new vectors.
 */
const FINGERPRINT_VECTORS: readonly FingerprintVector[] = [
  {
    name: "an empty body",
    input: { method: "POST", path: "/v1/payments", query: "", body: new Uint8Array() },
    fingerprint: "97a3e00b521ab78c0afbf0ddb00152abd9a49c9fac9695afa8e99d516cb27ea9",
  },
  {
    name: "a JSON body",
    input: { method: "POST", path: "/v1/payments", query: "", body: JSON_BODY },
    fingerprint: "d8933a59f80dcac0faef2b31c656dff05f4a0fbf7a702ebd636e9bd9d3808637",
  },
  {
    name: "a binary body that is not valid UTF-8",
    input: {
      method: "POST",
      path: "/v1/uploads",
      query: "",
      body: new Uint8Array([0x00, 0x01, 0x7f, 0x80, 0xc3, 0x28, 0xfe, 0xff]),
    },
    fingerprint: "0aa002fb8c0c764bbbeb7a54a835e948b8bb5b27ff40efaf47cc8f40d7dd9b93",
  },
  {
    name: "a query",
    input: {
      method: "POST",
      path: "/v1/payments",
      query: "expand=customer&limit=10",
      body: JSON_BODY,
    },
    fingerprint: "96abaee7eb7b0d6a4e814def049b1c45cd535dece3d4da63496b340a847505a8",
  },
  {
    name: "another method",
    input: { method: "PATCH", path: "/v1/payments", query: "", body: JSON_BODY },
    fingerprint: "d3dd6d5f55f0b20e5699f373f6d70b0bec3297bd67f77590a293651da2a7e727",
  },
  {
    name: "a percent-encoded path",
    input: { method: "POST", path: "/v1/pay%6Dents/ch_1", query: "", body: JSON_BODY },
    fingerprint: "5098ce753ee73772e0988de5d54b8746bf7a677058103b8a3dedf6c3165e1b14",
  },
];

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

describe("fingerprint known answers", () => {
  it.each(FINGERPRINT_VECTORS)(
    "is the SHA-256 of the documented encoding ($name)",
    async ({ input }) => {
      expect(await fingerprint(input)).toBe(await sha256Hex(documentedEncoding(input)));
    },
  );

  it.each(FINGERPRINT_VECTORS)(
    "still gives the pinned fingerprint, so stored records still match their retries ($name)",
    async ({ input, fingerprint: pinned }) => {
      expect(await fingerprint(input)).toBe(pinned);
    },
  );
});

/** A POST to /v1/payments with this body and content type, fingerprinted in `mode`. */
async function printOf(mode: FingerprintMode, body: string, contentType = "application/json") {
  const read = parseBody(encoder.encode(body), contentType, { parseJson: true });
  if (!read.ok) throw new Error(read.reason);
  return fingerprintOf(
    { method: "POST", path: "/v1/payments", query: "" },
    comparedBody(mode, read.body),
  );
}

const PAYMENT_JSON = '{"amount":1000,"currency":"usd"}';
const PAYMENT_JSON_RESERIALIZED = '{\n  "currency": "usd",\n  "amount": 1.0e3\n}';
const FORM = "application/x-www-form-urlencoded";

describe("fingerprint modes (IDEMPOTENCY_FINGERPRINT)", () => {
  it("keeps bytes mode byte-identical to the v1 fingerprint, so stored records still match", async () => {
    for (const vector of FINGERPRINT_VECTORS) {
      const { body, ...request } = vector.input;
      expect(await fingerprintOf(request, { kind: "bytes", bytes: body })).toBe(vector.fingerprint);
    }
    expect(await printOf("bytes", PAYMENT_JSON)).toBe(
      "d8933a59f80dcac0faef2b31c656dff05f4a0fbf7a702ebd636e9bd9d3808637",
    );
  });

  it("gives a JSON body re-serialized with other member order, whitespace and number spelling the same json fingerprint", async () => {
    expect(await printOf("json", PAYMENT_JSON_RESERIALIZED)).toBe(
      await printOf("json", PAYMENT_JSON),
    );
  });

  it("does NOT give the re-serialized body the same bytes fingerprint", async () => {
    expect(await printOf("bytes", PAYMENT_JSON_RESERIALIZED)).not.toBe(
      await printOf("bytes", PAYMENT_JSON),
    );
  });

  it("gives the same body different fingerprints in bytes and json mode (version tags differ)", async () => {
    expect(await printOf("json", PAYMENT_JSON)).not.toBe(await printOf("bytes", PAYMENT_JSON));
  });

  it("gives different JSON documents different json fingerprints", async () => {
    expect(await printOf("json", '{"amount":1001,"currency":"usd"}')).not.toBe(
      await printOf("json", PAYMENT_JSON),
    );
  });

  it("gives form pairs in another order the same json fingerprint, but not repeated names reordered", async () => {
    const print = (body: string) => printOf("json", body, FORM);
    expect(await print("currency=usd&amount=1000")).toBe(await print("amount=1000&currency=usd"));
    expect(await print("note=a+b")).toBe(await print("note=a%20b"));
    expect(await print("tag=x&tag=y")).not.toBe(await print("tag=y&tag=x"));
    expect(await print("amount=1000")).not.toBe(await print("amount=1001"));
  });

  it("does NOT collide a form whose pairs move bytes between name and value", async () => {
    const print = (body: string) => printOf("json", body, FORM);
    expect(await print("ab=c")).not.toBe(await print("a=bc"));
    expect(await print("a=b&c=d")).not.toBe(await print("a=b%26c%3Dd"));
  });

  it("does NOT equate a form and a JSON body, nor either with the bytes of another type", async () => {
    const prints = new Set([
      await printOf("json", "a=1", FORM),
      await printOf("json", '{"a":"1"}'),
      await printOf("json", "a=1", "text/plain"),
    ]);
    expect(prints.size).toBe(3);
  });

  it.each([
    ["an empty body", "", "application/json"],
    ["another content type", "{ }", "text/plain"],
    ["a number a double cannot hold", '{"id":12345678901234567890}', "application/json"],
    ["a lone surrogate", '{"note":"\\ud800"}', "application/json"],
  ])("compares %s by its bytes under json, exactly as in bytes mode", async (_, body, type) => {
    expect(await printOf("json", body, type)).toBe(await printOf("bytes", body, type));
  });

  it("does NOT equate two big integers that one double would hold", async () => {
    expect(await printOf("json", '{"id":12345678901234567890}')).not.toBe(
      await printOf("json", '{"id":12345678901234567891}'),
    );
  });
});

describe("fingerprint modes known answers", () => {
  /**
   * Computed once outside this code (Node's `crypto`, over the documented encodings of
   * docs/adr/0007). DO NOT EDIT to make a test pass: a change would make every stored json-mode
   * record refuse its honest retries with 422.
   */
  it("pins the fingerprint/v2-json encoding: the canonical text in place of the body", async () => {
    expect(await printOf("json", PAYMENT_JSON_RESERIALIZED)).toBe(
      "81070a906a5d4d18a9c86a885dd3d25bfdc9c67d6c7fbd7e42e4bbbfd1afa8c0",
    );
  });

  it("pins the fingerprint/v2-form encoding: each sorted name and value a field", async () => {
    expect(await printOf("json", "currency=usd&amount=1000", FORM)).toBe(
      "020b8b5799533ff6ffa6c576f2c739ee79fdc9dca2562e5bfb99be7a39f0b2a9",
    );
  });
});
