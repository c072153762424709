import type { OriginRequest } from "../core/origin-request";
import type { StoredResponse } from "../core/stored-response";
import { readBounded } from "../core/bounded-body";
import { endToEndHeaders } from "../core/http-headers";

/**
 * The one call to the origin: the request goes out once, the answer is buffered (under a cap and
 * a deadline), and every way it can end is classified by what it means for the key.
 */

/** How the origin call ended. */
export type OriginResult =
  /** The origin answered in full. */
  | { kind: "answered"; response: StoredResponse }
  /** The request may have reached the origin, but its answer is lost: fail closed. */
  | { kind: "unknown"; cause: "timeout" | "connection" | "too-large"; detail: string };

/** Injected effects and limits of an origin call. */
export interface OriginCallOptions {
  fetch?: typeof fetch;
  /**
   * The `ORIGIN` service binding, when the origin is a Worker: the request goes through it, with
   * the same deadline, cap and classification as over the network (README, "Outcomes").
   */
  binding?: Fetcher | undefined;
  timeoutMs: number;
  maxResponseBytes: number;
}

class ResponseTooLarge extends Error {}

/**
 * Sends `request` to the origin and buffers its answer.
 *
 * workerd reports a refused connection and a connection lost after the request was written with
 * the same error ("Network connection lost."), so a thrown fetch is an unknown outcome;
 * `probeOrigin` (`./origin-probe.ts`) is what proves "nothing reached it". Through the `ORIGIN`
 * service binding a thrown fetch means the origin Worker itself failed: unknown too.
 *
 * @example
 * const result = await callOrigin(req, { timeoutMs: 30_000, maxResponseBytes: 10_485_760 });
 */
export async function callOrigin(
  request: OriginRequest,
  { fetch: fetchImpl = fetch, binding, timeoutMs, maxResponseBytes }: OriginCallOptions,
): Promise<OriginResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  // A binding's `fetch` must be called on the binding.
  const send: typeof fetch =
    binding === undefined ? fetchImpl : (input, init) => binding.fetch(input, init);
  try {
    const response = await send(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      // 3xx answers belong to the client, exactly as the origin sent them.
      redirect: "manual",
      signal: controller.signal,
    });
    const body = await readBounded(
      response.body,
      response.headers.get("content-length"),
      maxResponseBytes,
    );
    if (body === null) throw new ResponseTooLarge();
    return {
      kind: "answered",
      response: { status: response.status, headers: endToEndHeaders(response.headers), body },
    };
  } catch (error) {
    if (controller.signal.aborted) {
      return {
        kind: "unknown",
        cause: "timeout",
        detail: `The origin did not answer within ${timeoutMs} ms.`,
      };
    }
    if (error instanceof ResponseTooLarge) {
      return {
        kind: "unknown",
        cause: "too-large",
        detail: `The origin's response exceeded the gateway's replay limit of ${maxResponseBytes} bytes and could not be kept.`,
      };
    }
    // Through a binding there is no connection to refuse: the origin Worker ran and threw (or
    // was cut off), possibly after acting. It fails closed like a connection lost mid-answer.
    return {
      kind: "unknown",
      cause: "connection",
      detail:
        binding === undefined
          ? "The connection to the origin failed before its answer was complete."
          : "The origin Worker failed before its answer was complete.",
    };
  } finally {
    clearTimeout(timer);
  }
}
