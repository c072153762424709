import type { FinalReply, Streamed } from "./protocol";

/**
 * Replies with their body as a stream over one copy of the answer, under a per-object byte
 * budget (docs/security.md, "Reliability and security": bounds).
 *
 * RPC carries a `ReadableStream` with flow control instead of serializing the whole body into
 * each reply. Measured under `wrangler dev` with an 8 MiB answer and 32 duplicates waiting on
 * the key: workerd grew by 1,154 MiB when each reply carried the bytes (three to four copies of
 * the answer per waiter), and by 160 MiB streamed. Streams still buffer, so the bytes an object
 * has in delivery at once are budgeted too: past `DELIVERY_BUDGET_BYTES`, a duplicate or a
 * replay is told to come back (`409`, `Retry-After: 1`) instead of adding to the pile, and a key
 * flooded with a large answer cannot take its object (and every other key there) down.
 */

/** Bytes per chunk of a streamed body. */
export const STREAM_CHUNK_BYTES = 64 * 1024;

/**
 * Bytes of answers one object may have in delivery at once (each reply counts its whole body
 * until its stream ends). An isolate has 128 MB; this leaves room for the answers still being
 * buffered from the origin and for the runtime itself.
 */
export const DELIVERY_BUDGET_BYTES = 32 * 1024 * 1024;

/** The bytes an object has in delivery. */
export class DeliveryBudget {
  #used = 0;

  /** Reserves `bytes` if they fit (or if `force`: the first caller always gets its answer). */
  reserve(bytes: number, force = false): boolean {
    if (!force && this.#used + bytes > DELIVERY_BUDGET_BYTES) return false;
    this.#used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.#used -= bytes;
  }

  /** Bytes currently reserved. */
  get used(): number {
    return this.#used;
  }
}

/**
 * A byte stream over `bytes`, read on demand; `done` runs once, when it ends or is cancelled.
 * Each chunk is a copy of its slice: a byte stream takes ownership of (detaches) what is
 * enqueued, and the bytes are shared with other readers.
 *
 * @example
 * new Response(streamOf(answer.body, () => budget.release(answer.body.byteLength)));
 */
export function streamOf(
  bytes: Uint8Array,
  done: () => void = () => undefined,
): ReadableStream<Uint8Array> {
  let offset = 0;
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    done();
  };
  const source: UnderlyingByteSource = {
    type: "bytes",
    pull(controller) {
      if (offset >= bytes.byteLength) {
        controller.close();
        finish();
        return;
      }
      const end = Math.min(offset + STREAM_CHUNK_BYTES, bytes.byteLength);
      controller.enqueue(bytes.slice(offset, end));
      offset = end;
    },
    cancel: finish,
  };
  return new ReadableStream(source) as ReadableStream<Uint8Array>;
}

/**
 * The reply as sent over RPC: a body larger than one chunk becomes a stream over the shared
 * bytes, with its size reserved in `budget` until the stream ends. `null` when it does not fit.
 *
 * @param first - the reply to the request that was forwarded: delivered whatever the budget
 */
export function streamed(
  reply: FinalReply,
  budget: DeliveryBudget,
  first: boolean,
): Streamed<FinalReply> | null {
  // A small body (one chunk: the usual payment answer) is cheaper sent as bytes than streamed,
  // and does not count against the budget: the waiter and call counts bound it.
  if (reply.kind !== "response" || reply.response.body.byteLength <= STREAM_CHUNK_BYTES) {
    return reply;
  }
  const size = reply.response.body.byteLength;
  if (!budget.reserve(size, first)) return null;
  const body = streamOf(reply.response.body, () => budget.release(size));
  return { ...reply, response: { ...reply.response, body } };
}
