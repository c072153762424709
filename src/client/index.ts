/**
 * The consumer side of the idempotency gateway: a dependency-free helper for browsers, Node ≥ 18
 * and Workers that sends one intent with one `Idempotency-Key` and retries it safely. See
 * `docs/clients.md` for the rules it implements.
 *
 * @example
 * ```ts
 * import { createIdempotentFetch } from "edge-idempotency-gateway/client";
 *
 * const idempotentFetch = createIdempotentFetch();
 * const { response, outcome, replayed } = await idempotentFetch(url, { method: "POST", body });
 * ```
 *
 * @module
 */
export {
  createIdempotentFetch,
  type FetchLike,
  type IdempotentFetch,
  type IdempotentFetchOptions,
  type IdempotentOutcome,
  type IdempotentRequestInit,
  type IdempotentResult,
} from "./idempotent-fetch";
export { IdempotentFetchError } from "./idempotent-fetch-error";
export {
  IDEMPOTENCY_KEY_HEADER,
  isValidIdempotencyKey,
  randomIdempotencyKey,
} from "./idempotency-key";
export { isReplayed, REPLAYED_HEADER } from "./replay";
export { parseRetryAfter } from "./retry-after";
export { classifyAnswer, type Answer, type Verdict } from "./retry-policy";
export type { Sleep } from "./sleep";
