/**
 * A request that can be sent again and again, identically: one `Request` per attempt, each with
 * the same method, URL, headers and body bytes.
 *
 * The body is read once, up front, into memory. A `Request` body is a stream that a `fetch`
 * consumes, so it cannot be sent twice; buffering it before the first attempt is what lets every
 * retry carry the same bytes, which the gateway requires (a different body under the same key is
 * `422 idempotency-key-reused`). A `ReadableStream` body is therefore accepted but read to its end
 * first: it must be finite, and it is held in memory (the gateway refuses bodies over
 * `IDEMPOTENCY_MAX_BODY_BYTES`, 1 MiB by default, anyway).
 *
 * @param template - the request as the caller built it, with the `Idempotency-Key` already set;
 *   its body is consumed
 * @returns a function that makes a fresh request for each attempt
 *
 * @example
 * ```ts
 * const nextAttempt = await toReplayableRequest(new Request(url, { method: "POST", body }));
 * await fetch(nextAttempt());
 * await fetch(nextAttempt()); // same bytes again
 * ```
 */
export async function toReplayableRequest(template: Request): Promise<() => Request> {
  if (template.body === null) return () => new Request(template);
  const body = await template.arrayBuffer();
  // With a body in `init`, the Request constructor takes it and never touches the template's
  // (already consumed) body (Fetch standard, Request constructor step "initBody").
  return () => new Request(template, { body });
}
