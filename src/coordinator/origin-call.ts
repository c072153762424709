import type { OriginRequest } from "../core/origin-request";
import type { StoredResponse } from "../core/stored-response";
import { readBounded, readFramed, type ReadAllowance } from "../core/bounded-body";
import { endToEndHeaders } from "../core/http-headers";
import type { AnswerBudget } from "./inflight-budget";

/**
 * The one call to the origin: the request goes out once, the answer is buffered (under a cap and
 * a deadline), and every way it can end is classified by what it means for the key.
 */

/** How the origin call ended. */
export type OriginResult =
  /** The origin answered in full. */
  | { kind: "answered"; response: StoredResponse }
  /**
   * The request could not even be built (e.g. a body on a `GET`): nothing left, so the key can
   * be released. The gateway's own checks should make this unreachable.
   */
  | { kind: "unsent"; detail: string }
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
  /**
   * The call's admission to its object's in-flight budget (`./inflight-budget.ts`): the answer is
   * held up to the reserve, and beyond it only once the budget grants more. The wait for it does
   * not count against `timeoutMs`. Without it, up to `maxResponseBytes` are held at once.
   */
  answerBudget?: AnswerBudget | undefined;
}

class ResponseTooLarge extends Error {}

/**
 * The origin's deadline, which stops while the gateway, not the origin, is the one waiting, and
 * starts again with the time that was left.
 */
class OriginDeadline {
  readonly #expire: () => void;
  #leftMs: number;
  #since = Date.now();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(ms: number, expire: () => void) {
    this.#expire = expire;
    this.#leftMs = ms;
    this.#timer = setTimeout(expire, ms);
  }

  pause(): void {
    clearTimeout(this.#timer);
    // In workerd `Date.now()` moves only on I/O; what ran since `#since` was awaiting the origin.
    this.#leftMs -= Date.now() - this.#since;
  }

  resume(): void {
    this.#since = Date.now();
    this.#timer = setTimeout(this.#expire, Math.max(0, this.#leftMs));
  }

  clear(): void {
    clearTimeout(this.#timer);
  }
}

/**
 * Sends `request` to the origin and buffers its answer.
 *
 * workerd reports a refused connection and a connection lost after the request was written with
 * the same error ("Network connection lost."), so a thrown fetch is an unknown outcome;
 * `probeOrigin` (`./origin-probe.ts`) is what proves "nothing reached it". Through the `ORIGIN`
 * service binding a thrown fetch means the origin Worker itself failed: unknown too.
 *
 * With an `answerBudget`, an answer larger than its reserve waits for memory once the origin has
 * begun to answer. That wait is the gateway's, so the deadline stops for it; the origin's
 * connection stays open meanwhile, and the answer is read on once the bytes are granted. An
 * answer without a `Content-Length` is found larger only once read past the reserve, so a call
 * that waits holds one chunk more (workerd hands a body over the network in chunks of at most
 * 4 KiB; through a binding, as the origin Worker wrote them). A refusal by the budget itself (a
 * bug: it is sized for the largest answer allowed) is thrown, not classified: it says nothing
 * about the origin.
 *
 * @example
 * const result = await callOrigin(req, {
 *   timeoutMs: 30_000,
 *   maxResponseBytes: 10_485_760,
 *   answerBudget: admission, // InflightBudget#admit
 * });
 */
export async function callOrigin(
  request: OriginRequest,
  {
    fetch: fetchImpl = fetch,
    binding,
    timeoutMs,
    maxResponseBytes,
    answerBudget,
  }: OriginCallOptions,
): Promise<OriginResult> {
  const controller = new AbortController();
  const deadline = new OriginDeadline(timeoutMs, () => controller.abort());
  let budgetFailed = false;
  const allowance: ReadAllowance | undefined = answerBudget && {
    bytes: answerBudget.reserveBytes,
    grow: async (bytes) => {
      deadline.pause();
      try {
        await answerBudget.growAnswer(bytes);
      } catch (error) {
        budgetFailed = true;
        throw error;
      }
      deadline.resume();
    },
  };
  // Built before anything is sent: a request the runtime refuses to build never left, and is
  // not an unknown outcome (which would hold its key until the TTL).
  let outgoing: Request;
  try {
    outgoing = new Request(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      // 3xx answers belong to the client, exactly as the origin sent them.
      redirect: "manual",
      signal: controller.signal,
    });
  } catch (error) {
    deadline.clear();
    return { kind: "unsent", detail: `The request could not be built: ${String(error)}` };
  }
  // A binding's `fetch` must be called on the binding.
  const send = (input: Request) =>
    binding === undefined ? fetchImpl(input) : binding.fetch(input);
  try {
    const response = await send(outgoing);
    // Over HTTP the declared length frames the answer; a binding's Response is a Worker's own.
    const body =
      binding === undefined
        ? await readFramed(response, maxResponseBytes, { allowance })
        : await readBounded(
            response.body,
            response.headers.get("content-length"),
            maxResponseBytes,
            { allowance },
          );
    if (body === null) throw new ResponseTooLarge();
    return {
      kind: "answered",
      response: { status: response.status, headers: endToEndHeaders(response.headers), body },
    };
  } catch (error) {
    if (budgetFailed) {
      // The answer cannot be kept: cut the origin's connection, and let the error be seen.
      controller.abort();
      throw error;
    }
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
    deadline.clear();
  }
}
