import { REPLAYED_HEADER } from "../../../src/core/header-names";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CHUNK_BYTES,
  type StoredResponse,
  NULL_BODY_STATUSES,
  decodeHeaders,
  encodeHeaders,
  isBodylessStatus,
  joinChunks,
  splitBody,
  toResponse,
} from "../../../src/core/stored-response";

const encoder = new TextEncoder();

const JSON_BODY = encoder.encode('{"id":"pay_123","status":"succeeded"}');
const CREATED: StoredResponse = {
  status: 201,
  headers: [
    ["content-type", "application/json"],
    ["x-request-id", "req_1"],
    ["set-cookie", "a=1; Path=/; HttpOnly"],
    ["set-cookie", "b=2, with comma; Path=/"],
  ],
  body: JSON_BODY,
};

/** Bytes whose value depends on the position, so a misplaced chunk is visible. */
function patterned(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >>> 8)) & 0xff;
  return bytes;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i]);
}

describe("splitBody", () => {
  it("splits an empty body into one empty chunk", () => {
    const chunks = splitBody(new Uint8Array());
    expect(chunks).toHaveLength(1);
    expect(chunks[0]?.byteLength).toBe(0);
  });

  it("keeps a body of exactly CHUNK_BYTES in one chunk", () => {
    expect(splitBody(new Uint8Array(CHUNK_BYTES)).map((c) => c.byteLength)).toEqual([CHUNK_BYTES]);
  });

  it("splits a body of CHUNK_BYTES + 1 into two chunks", () => {
    expect(splitBody(new Uint8Array(CHUNK_BYTES + 1)).map((c) => c.byteLength)).toEqual([
      CHUNK_BYTES,
      1,
    ]);
  });

  it("splits 2.5 chunks' worth into two full chunks and a half", () => {
    expect(splitBody(new Uint8Array(2.5 * CHUNK_BYTES)).map((c) => c.byteLength)).toEqual([
      CHUNK_BYTES,
      CHUNK_BYTES,
      CHUNK_BYTES / 2,
    ]);
  });

  it("keeps every chunk under the 2 MB production storage value limit", () => {
    expect(CHUNK_BYTES).toBeLessThan(2 * 1024 * 1024);
  });

  it("returns chunks of at most chunkBytes that join back to the body, byte for byte (property)", () => {
    const chunkBytes = fc.integer({ min: 1, max: 64 });
    // Sizes near multiples of the chunk size, where off-by-one errors live.
    const sizeFor = (n: number) =>
      fc.oneof(
        fc.integer({ min: 0, max: 1_024 }),
        fc
          .tuple(fc.integer({ min: 0, max: 16 }), fc.integer({ min: -1, max: 1 }))
          .map(([k, d]) => Math.max(0, k * n + d)),
      );
    fc.assert(
      fc.property(
        chunkBytes.chain((n) =>
          fc.tuple(
            fc.constant(n),
            sizeFor(n).chain((size) => fc.uint8Array({ minLength: size, maxLength: size })),
          ),
        ),
        ([n, body]) => {
          const chunks = splitBody(body, n);
          expect(chunks.length).toBe(Math.max(1, Math.ceil(body.byteLength / n)));
          for (const chunk of chunks) expect(chunk.byteLength).toBeLessThanOrEqual(n);
          for (const chunk of chunks.slice(0, -1)) expect(chunk.byteLength).toBe(n);
          expect(bytesEqual(joinChunks(chunks), body)).toBe(true);
        },
      ),
    );
  });

  it("round-trips bodies around the real chunk boundaries, byte for byte", () => {
    for (const size of [CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 7]) {
      const body = patterned(size);
      const chunks = splitBody(body);
      for (const chunk of chunks) expect(chunk.byteLength).toBeLessThanOrEqual(CHUNK_BYTES);
      expect(bytesEqual(joinChunks(chunks), body)).toBe(true);
    }
  });
});

describe("joinChunks", () => {
  it("joins no chunks into an empty body", () => {
    expect(joinChunks([]).byteLength).toBe(0);
  });

  it("concatenates chunks in order", () => {
    expect([
      ...joinChunks([new Uint8Array([1, 2]), new Uint8Array(), new Uint8Array([3])]),
    ]).toEqual([1, 2, 3]);
  });
});

describe("encodeHeaders / decodeHeaders", () => {
  it("round-trips a header list with repeated fields, order kept", () => {
    expect(decodeHeaders(encodeHeaders(CREATED.headers))).toEqual(CREATED.headers);
  });

  it("round-trips any header list (property)", () => {
    const text = fc.string({ unit: "binary", maxLength: 20 });
    const pair = fc.tuple(text, text);
    fc.assert(
      fc.property(fc.array(pair, { maxLength: 10 }), (headers) => {
        expect(decodeHeaders(encodeHeaders(headers))).toEqual(headers);
      }),
    );
  });
});

describe("toResponse", () => {
  it("answers the stored status, headers and body", async () => {
    const response = toResponse(CREATED, false);
    expect(response.status).toBe(201);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("x-request-id")).toBe("req_1");
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(JSON_BODY);
  });

  it("adds Idempotent-Replayed: true to a replay", () => {
    expect(toResponse(CREATED, true).headers.get(REPLAYED_HEADER)).toBe("true");
    expect(REPLAYED_HEADER).toBe("Idempotent-Replayed");
  });

  it("does NOT add Idempotent-Replayed to the first answer", () => {
    expect(toResponse(CREATED, false).headers.has(REPLAYED_HEADER)).toBe(false);
  });

  it("does NOT add a second Idempotent-Replayed when the stored headers already carry one", () => {
    const stored: StoredResponse = { ...CREATED, headers: [[REPLAYED_HEADER, "false"]] };
    expect(toResponse(stored, true).headers.get(REPLAYED_HEADER)).toBe("true");
  });

  it("keeps repeated Set-Cookie fields apart, commas included", () => {
    expect(toResponse(CREATED, true).headers.getSetCookie()).toEqual([
      "a=1; Path=/; HttpOnly",
      "b=2, with comma; Path=/",
    ]);
  });

  it.each([204, 304])("gives a %i a null body", (status) => {
    const response = toResponse(
      { status, headers: [["etag", '"v1"']], body: new Uint8Array() },
      true,
    );
    expect(response.status).toBe(status);
    expect(response.body).toBeNull();
    expect(response.headers.get("etag")).toBe('"v1"');
  });

  it.each([204, 205, 304])(
    "replays a %i stored WITH bytes without throwing, and without them",
    async (status) => {
      const response = toResponse({ status, headers: [["x-a", "1"]], body: JSON_BODY }, true);
      expect(response.status).toBe(status);
      expect(response.body).toBeNull();
      expect(response.headers.get("x-a")).toBe("1");
      expect(response.headers.get(REPLAYED_HEADER)).toBe("true");
      expect((await response.arrayBuffer()).byteLength).toBe(0);
    },
  );

  it("cancels a streamed body that a bodyless status drops", async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      cancel() {
        cancelled = true;
      },
    });
    expect(toResponse({ status: 205, headers: [], body }, true).body).toBeNull();
    await Promise.resolve();
    expect(cancelled).toBe(true);
  });

  it("names the Fetch standard's null body statuses, and counts every 1xx as bodyless", () => {
    expect([...NULL_BODY_STATUSES].sort()).toEqual([101, 103, 204, 205, 304]);
    for (const status of [100, 102, 199]) expect(isBodylessStatus(status)).toBe(true);
    for (const status of [200, 206, 299, 300, 303, 400, 500, 599]) {
      expect(isBodylessStatus(status)).toBe(false);
    }
  });

  it("never throws for any final status and any stored bytes (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 200, max: 599 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.boolean(),
        async (status, body, replayed) => {
          const response = toResponse({ status, headers: [], body }, replayed);
          expect(response.status).toBe(status);
          const replayedBytes = new Uint8Array(await response.arrayBuffer());
          expect(
            bytesEqual(replayedBytes, isBodylessStatus(status) ? new Uint8Array() : body),
          ).toBe(true);
        },
      ),
    );
  });

  it.each([200, 400, 422, 500, 502, 504])("replays a %i with its body", async (status) => {
    const response = toResponse({ ...CREATED, status }, true);
    expect(response.status).toBe(status);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(JSON_BODY);
  });

  it("replays a multi-chunk body byte-identically", async () => {
    const body = patterned(2 * CHUNK_BYTES + 3);
    const stored: StoredResponse = { status: 200, headers: [], body: joinChunks(splitBody(body)) };
    const replayed = new Uint8Array(await toResponse(stored, true).arrayBuffer());
    expect(bytesEqual(replayed, body)).toBe(true);
  });

  it("replays any body byte-identically (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2_048 }), async (body) => {
        const response = toResponse({ status: 200, headers: [], body }, true);
        expect(bytesEqual(new Uint8Array(await response.arrayBuffer()), body)).toBe(true);
      }),
    );
  });
});
