/**
 * What an answer means for the request that got it:
 * - `final`: this is the answer for the key; sending the same request again returns it again
 *   (or, for a `4xx`, keeps failing until the request is fixed);
 * - `retry`: nothing was recorded against the key, or a retry is deduplicated by it: send the same
 *   request again with the same key;
 * - `unknown`: the gateway cannot tell whether the origin acted (`504 origin-outcome-unknown`)
 *   and will answer every retry with that key the same way until the key expires or an operator
 *   purges it: reconcile with the origin before minting a new key.
 */
export type Verdict = "final" | "retry" | "unknown";

/** What {@link classifyAnswer} looks at. */
export interface Answer {
  status: number;
  /** The response carried `Idempotent-Replayed: true`. */
  replayed: boolean;
  /** The `code` of a problem+json body, when there is one. */
  problemCode?: string | undefined;
}

/**
 * Statuses that are worth another attempt with the same key:
 * - `409 request-in-progress`: the first request with this key is still running;
 * - `429` and `503`: the gateway does not store them by default (`IDEMPOTENCY_RETRY_STATUSES`),
 *   so the key is released and a retry is forwarded again;
 * - `502 origin-unreachable`: nothing reached the origin and the key was released;
 * - `504` that is NOT the gateway's `origin-outcome-unknown`: it came from something between the
 *   client and the gateway (a proxy or load balancer timing out), so the gateway either never saw
 *   the request or will deduplicate the retry by its key. Retrying it is exactly as safe as
 *   retrying after a network error.
 * An origin `409`, `502` or `504` that the gateway stored is retried once at most: the retry comes
 * back marked as a replay, which is final.
 */
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([409, 429, 502, 503, 504]);

/**
 * Decides whether an answer from the gateway is final, worth retrying with the same key, or an
 * unknown outcome that must be reconciled. Pure: no I/O, no clock.
 *
 * Never retried: every other `4xx` (`400` and `413` need a fixed request, `422
 * idempotency-key-reused` is a client bug: the same key was sent with a different request), and
 * `500`, which the gateway stores like any origin answer and would replay unchanged. Any replay is
 * final, whatever its status: the gateway stored it and will return it again.
 *
 * @param answer - the status, whether it was replayed, and its problem code
 * @returns `final`, `retry` or `unknown`
 *
 * @example
 * ```ts
 * classifyAnswer({ status: 503, replayed: false }); // "retry"
 * classifyAnswer({ status: 422, replayed: false, problemCode: "idempotency-key-reused" }); // "final"
 * classifyAnswer({ status: 504, replayed: true, problemCode: "origin-outcome-unknown" }); // "unknown"
 * ```
 */
export function classifyAnswer({ status, replayed, problemCode }: Answer): Verdict {
  if (status === 504 && problemCode === "origin-outcome-unknown") return "unknown";
  if (replayed) return "final";
  return RETRYABLE_STATUSES.has(status) ? "retry" : "final";
}
