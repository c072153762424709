import { REPLAYED_HEADER } from "./header-names";

/**
 * A response in the form the coordinator stores and replays: status, end-to-end headers and the
 * body bytes, split into chunks that fit one storage value.
 */

/**
 * Bytes per stored chunk. Production caps key + value (and an SQLite row) at 2 MB; the local
 * runtime does not enforce it (Cloudflare docs, "Durable Objects: Limits"), so the cap is ours to keep, with headroom
 * for the record's other columns.
 */
export const CHUNK_BYTES = 1_000_000;

/** Largest serialized header list stored with a record (Workers cap response headers at 128 KB). */
export const MAX_STORED_HEADER_BYTES = 256 * 1024;

/** A complete origin answer, buffered. */
export interface StoredResponse {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
}

/**
 * Splits a body into chunks of at most `chunkBytes` (views, no copies). An empty body is one empty
 * chunk, so every stored response has a first chunk.
 *
 * @example
 * splitBody(new Uint8Array(2_500_000)).map((c) => c.byteLength); // [1000000, 1000000, 500000]
 */
export function splitBody(body: Uint8Array, chunkBytes: number = CHUNK_BYTES): Uint8Array[] {
  if (body.byteLength === 0) return [body];
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < body.byteLength; offset += chunkBytes) {
    chunks.push(body.subarray(offset, Math.min(offset + chunkBytes, body.byteLength)));
  }
  return chunks;
}

/**
 * Joins stored chunks back into one body.
 *
 * @example
 * joinChunks(splitBody(body)); // equal to body, byte for byte
 */
export function joinChunks(chunks: readonly Uint8Array[]): Uint8Array {
  // One chunk (the usual case) is returned as is: no copy.
  if (chunks.length === 1 && chunks[0] !== undefined) return chunks[0];
  let total = 0;
  for (const chunk of chunks) total += chunk.byteLength;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Serializes a header list for storage. */
export function encodeHeaders(headers: readonly (readonly [string, string])[]): string {
  return JSON.stringify(headers);
}

/** Reads a header list written by `encodeHeaders`. */
export function decodeHeaders(text: string): [string, string][] {
  return JSON.parse(text) as [string, string][];
}

/**
 * The Fetch standard's null body statuses (101, 103, 204, 205, 304): a `Response` with one of them
 * and a body throws. RFC 9110 says the same of the wire: 1xx, 204 and 304 answers end at their
 * header section (§6.4.1), and a 205 "does not allow content" (§15.3.6).
 */
export const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([101, 103, 204, 205, 304]);

/**
 * Whether an answer with this status carries no content, so its stored bytes, if any, are never
 * replayed: a null body status, or any other 1xx (never a final answer).
 *
 * @example
 * isBodylessStatus(205); // true
 */
export function isBodylessStatus(status: number): boolean {
  return NULL_BODY_STATUSES.has(status) || status < 200;
}

/**
 * Builds the HTTP response for a stored (or freshly buffered) answer. It never throws for a
 * stored status of 200 to 599, whatever bytes are stored with it: the body of a bodyless status
 * is dropped, as a client would never have received it (resolve refuses such a body up front,
 * `http/admin-requests.ts`).
 *
 * @param replayed - adds `Idempotent-Replayed: true`
 */
export function toResponse(
  stored: Omit<StoredResponse, "body"> & { body: Uint8Array | ReadableStream<Uint8Array> },
  replayed: boolean,
): Response {
  const headers = new Headers();
  for (const [name, value] of stored.headers) headers.append(name, value);
  if (replayed) headers.set(REPLAYED_HEADER, "true");
  if (!isBodylessStatus(stored.status)) {
    return new Response(stored.body, { status: stored.status, headers });
  }
  // A streamed body nobody reads would hold its share of the coordinator's delivery budget.
  if (stored.body instanceof ReadableStream) stored.body.cancel().catch(() => undefined);
  return new Response(null, { status: stored.status, headers });
}
