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
 * Builds the HTTP response for a stored (or freshly buffered) answer.
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
  // RFC 9110 §6.4.1: 1xx, 204 and 304 responses carry no content.
  const bodyless = stored.status === 204 || stored.status === 304 || stored.status < 200;
  return new Response(bodyless ? null : stored.body, { status: stored.status, headers });
}
