import { REPLAYED_HEADER } from "../core/header-names";

export { REPLAYED_HEADER };

/**
 * Whether `response` is a replay of an answer the gateway stored earlier for the same key
 * (`Idempotent-Replayed: true`), rather than the first answer to this request.
 *
 * A replay is not a new charge: count replays separately in metrics and do not fulfil an order
 * twice because a replayed `201` arrived.
 *
 * @param response - any response from the gateway
 * @returns `true` for a replay
 *
 * @example
 * ```ts
 * const response = await fetch(request);
 * metrics.increment(isReplayed(response) ? "payment.replayed" : "payment.created");
 * ```
 */
export function isReplayed(response: Response): boolean {
  return response.headers.get(REPLAYED_HEADER)?.trim().toLowerCase() === "true";
}
