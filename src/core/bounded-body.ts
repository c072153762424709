import { joinChunks } from "./stored-response";

/**
 * How many bytes of a refused request body are read and dropped, in all, before the stream is
 * cancelled (`readBounded`'s `drain` option).
 *
 * Why drain at all: answering while the client is still sending makes the server close a
 * connection with unread data on it, and the TCP reset that follows can destroy the answer before
 * the client reads it (RFC 9112 §9.6, "Tear-down": a server closes its half first and keeps
 * reading, a "lingering close"; servers such as nginx and Apache read and discard the body of a
 * refused request for the same reason). Under `wrangler dev` an unread body made uploads of
 * 2 MiB fail about one time in ten, and of 8 MiB most times, with a `500 Network connection lost`
 * or a dropped socket instead of the `413`, and a retrying client never learned why.
 *
 * Why 64 MiB: dropped chunks take no memory, only the time the client spends sending them, so
 * the bound is about that time, not the isolate's 128 MB. It is 4 times the largest
 * `IDEMPOTENCY_MAX_BODY_BYTES` (16 MiB), so a plausible overshoot (a file a few times too big)
 * still gets its `413`, and it is below the smallest request body any Cloudflare plan lets
 * through (100 MB, Free and Pro: Workers docs, "Limits"), so on every plan this bound, not the
 * edge, stops a longer upload. A larger body (declared or streamed) is cancelled at once, or as
 * soon as it passes the bound: holding the invocation for it is not worth it.
 */
export const MAX_DRAINED_BYTES = 64 * 1024 * 1024;

/** Options of `readBounded`. */
export interface ReadBoundedOptions {
  /**
   * When the body is over the limit, read it to its end and drop it (up to `MAX_DRAINED_BYTES`
   * in all) before answering, so the connection stays usable for the refusal. For the request
   * body only: an origin's oversized answer is cancelled at once.
   */
  drain?: boolean;
  /**
   * The memory the read may hold, when it is less than `limit`: without it, up to `limit`.
   */
  allowance?: ReadAllowance | undefined;
}

/**
 * Bytes a read may hold without asking, and how it asks for more. An origin's answer is held
 * under its object's in-flight budget (`coordinator/inflight-budget.ts`), which grants more than
 * a small reserve only when there is room.
 *
 * `grow` is asked before the bytes are kept, at most twice and never beyond `limit` in all: for
 * the declared `Content-Length` beyond `bytes` before the first read, and for the rest up to
 * `limit` once the stream runs past what was granted (no length declared, or a dishonest one).
 * In the second case the chunk that ran past is held while `grow` waits: a chunk's size is only
 * known once it has been read.
 */
export interface ReadAllowance {
  bytes: number;
  grow(bytes: number): Promise<void>;
}

/**
 * Buffers a body under a byte limit, keeping no more than one chunk past it: the request body on
 * the way in and the origin's response on the way back are both held in memory (an isolate has
 * 128 MB), so neither may grow without bound.
 *
 * @param declaredLength - the `Content-Length`, if any: an honest oversized body is refused
 *   before a byte is kept, and a larger one than `allowance` allows is asked for before a byte
 *   is read
 * @returns the bytes (empty for no body), or `null` when they exceed `limit`; an oversized
 *   stream is cancelled, or with `drain` first read to its end (see `MAX_DRAINED_BYTES`)
 * @example
 * const body = await readBounded(request.body, request.headers.get("content-length"), 1_048_576, {
 *   drain: true,
 * });
 * if (body === null) return tooLarge();
 */
export async function readBounded(
  stream: ReadableStream<Uint8Array> | null,
  declaredLength: string | null,
  limit: number,
  { drain = false, allowance }: ReadBoundedOptions = {},
): Promise<Uint8Array | null> {
  const drainUpTo = drain ? MAX_DRAINED_BYTES : 0;
  if (declaredLength !== null && Number(declaredLength) > limit) {
    if (stream === null) return null;
    const reader = stream.getReader();
    if (Number(declaredLength) <= drainUpTo) await discard(reader, 0, drainUpTo);
    else await reader.cancel();
    return null;
  }
  if (stream === null) return new Uint8Array(0);
  const reader = stream.getReader();
  // Past `limit` the body is refused before more is asked for, so `allowed` never passes it.
  let allowed = Math.min(allowance?.bytes ?? limit, limit);
  const declared = Number(declaredLength);
  if (declaredLength !== null && Number.isSafeInteger(declared) && declared > allowed) {
    await allowance?.grow(declared - allowed);
    allowed = declared;
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return joinChunks(parts);
    total += value.byteLength;
    if (total > limit) {
      await discard(reader, total, drainUpTo);
      return null;
    }
    if (total > allowed) {
      await allowance?.grow(limit - allowed);
      allowed = limit;
    }
    parts.push(value);
  }
}

/** A request or response, as far as reading its body goes. */
export interface Message {
  readonly headers: Headers;
  readonly body: ReadableStream<Uint8Array> | null;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/**
 * `readBounded` over a message received over HTTP, whose body is exactly its `Content-Length`
 * when it declares one (HTTP/1.1 frames it so: RFC 9112 §6.3; the runtime reads no further).
 * Such a body within what may be held is read in one call (`arrayBuffer()`) instead of chunk by
 * chunk: one resumption instead of one per chunk and one for the end (the reader's share of a
 * first request's CPU in workerd alone fell from 4.5% to 2.5%: bench/README.md, "Cuts of this
 * round"). Any other body — no length, or more
 * than may be held without asking — goes through `readBounded`, with its bounds and draining.
 *
 * Only for messages framed by HTTP: a Worker's own `Response` (a service binding) may declare a
 * length its stream does not keep, so it is read by `readBounded` alone.
 *
 * @example
 * const body = await readFramed(request, settings.maxBodyBytes, { drain: true });
 */
export async function readFramed(
  message: Message,
  limit: number,
  options: ReadBoundedOptions = {},
): Promise<Uint8Array | null> {
  const declared = message.headers.get("content-length");
  const allowed = Math.min(options.allowance?.bytes ?? limit, limit);
  const length = declared === null ? Number.NaN : Number(declared);
  if (message.body !== null && Number.isSafeInteger(length) && length <= allowed) {
    const bytes = new Uint8Array(await message.arrayBuffer());
    // The framing makes these equal; a mismatch would be the runtime's, and is refused all the same.
    return bytes.byteLength <= allowed ? bytes : null;
  }
  return readBounded(message.body, declared, limit, options);
}

/**
 * Reads and drops chunks until the stream ends, or cancels it once `total` passes `upTo`. A
 * client that breaks off mid-body ends the draining: the refusal stands either way.
 */
async function discard(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  total: number,
  upTo: number,
): Promise<void> {
  try {
    while (total <= upTo) {
      const { done, value } = await reader.read();
      if (done) return;
      total += value.byteLength;
    }
  } catch {
    return;
  }
  await reader.cancel();
}
