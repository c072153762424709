import { joinChunks } from "./stored-response";

/**
 * Buffers a body under a byte limit, reading no more than one chunk past it: the request body on
 * the way in and the origin's response on the way back are both held in memory (an isolate has
 * 128 MB), so neither may grow without bound.
 *
 * @param declaredLength - the `Content-Length`, if any: an honest oversized body is refused
 *   before a byte is read
 * @returns the bytes (empty for no body), or `null` when they exceed `limit`
 * @example
 * const body = await readBounded(request.body, request.headers.get("content-length"), 1_048_576);
 * if (body === null) return tooLarge();
 */
export async function readBounded(
  stream: ReadableStream<Uint8Array> | null,
  declaredLength: string | null,
  limit: number,
): Promise<Uint8Array | null> {
  if (declaredLength !== null && Number(declaredLength) > limit) {
    await stream?.cancel();
    return null;
  }
  if (stream === null) return new Uint8Array(0);
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return joinChunks(parts);
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      return null;
    }
    parts.push(value);
  }
}
