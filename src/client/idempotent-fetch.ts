import { fullJitterDelay } from "./backoff";
import {
  IDEMPOTENCY_KEY_HEADER,
  isValidIdempotencyKey,
  randomIdempotencyKey,
} from "./idempotency-key";
import { IdempotentFetchError } from "./idempotent-fetch-error";
import { readProblemCode } from "./problem";
import { isReplayed } from "./replay";
import { toReplayableRequest } from "./replayable-request";
import { parseRetryAfter } from "./retry-after";
import { classifyAnswer } from "./retry-policy";
import { sleep as timerSleep, type Sleep } from "./sleep";

/** The part of `fetch` the helper uses: it always passes one complete `Request`. */
export type FetchLike = (request: Request) => Promise<Response>;

/** Options of {@link createIdempotentFetch}. Every one has a default. */
export interface IdempotentFetchOptions {
  /** Sends one attempt. Default: the global `fetch`, looked up at call time. */
  fetch?: FetchLike;
  /** Waits between attempts; must reject with `signal.reason` when `signal` aborts. */
  sleep?: Sleep;
  /**
   * Makes a key when the caller gave none. Default: `crypto.randomUUID()` (122 random bits); on
   * Node 18 without `--experimental-global-webcrypto`, pass `randomUUID` from `node:crypto`.
   */
  generateKey?: () => string;
  /** The most attempts per call, the first included. Default: 5. */
  maxAttempts?: number;
  /** The ceiling of the first backoff wait, doubled on each retry. Default: 500 ms. */
  baseDelayMs?: number;
  /** The longest backoff wait (a longer `Retry-After` is still honoured). Default: 10 000 ms. */
  maxDelayMs?: number;
  /** No wait ends later than this long after the call started. Default: 60 000 ms. */
  deadlineMs?: number;
  /** The clock, in epoch milliseconds. Default: `Date.now`. */
  now?: () => number;
  /** Random numbers in [0, 1) for the jitter. Default: `Math.random`. */
  random?: () => number;
}

/** `RequestInit`, plus the key for this call. */
export interface IdempotentRequestInit extends RequestInit {
  /**
   * The key of this intent, sent verbatim on every attempt. Persist it with the intent before the
   * first call, so that a process that restarts retries with the same key. When absent, an
   * `Idempotency-Key` header already on the request is used, and failing that one is generated.
   */
  idempotencyKey?: string;
}

/**
 * How a call ended:
 * - `final`: the answer for this key (a success, or an error that retrying will not change);
 * - `retryable`: the attempts or the deadline ran out on a `409`/`429`/`502`/`503`/`504`; trying
 *   again later with the same key is safe;
 * - `unknown`: `504 origin-outcome-unknown`: the origin may or may not have acted, and every retry
 *   with this key gets the same answer until the key expires. Reconcile with the origin (look the
 *   payment up) before minting a new key.
 */
export type IdempotentOutcome = "final" | "retryable" | "unknown";

/** What an idempotent fetch resolves to. */
export interface IdempotentResult {
  /** The last answer, body unread. */
  response: Response;
  /** See {@link IdempotentOutcome}. */
  outcome: IdempotentOutcome;
  /** The answer is a replay of a stored one (`Idempotent-Replayed: true`), not a new charge. */
  replayed: boolean;
  /** How many attempts were made, the first included. */
  attempts: number;
  /** The `Idempotency-Key` every attempt carried. */
  key: string;
}

/** A fetch-like function that sends one intent, with one key, as often as it takes. */
export type IdempotentFetch = (
  input: Request | string | URL,
  init?: IdempotentRequestInit,
) => Promise<IdempotentResult>;

/**
 * Creates a fetch-like function that makes a request safe to retry through the idempotency
 * gateway: it attaches an `Idempotency-Key` (the caller's, or a fresh one per call), sends the
 * same key and the same body bytes on every attempt, retries what is worth retrying with
 * exponential backoff and full jitter, honours `Retry-After`, and reports whether the answer is a
 * replay and whether the outcome is unknown.
 *
 * Retried: network errors (but not an abort by the caller's own `signal`), `409`, `429`, `502`,
 * `503`, and a `504` that is not the gateway's `origin-outcome-unknown`. Never retried: other
 * `4xx` (`422` is a client bug), `500`, and any replay. See `retry-policy.ts` for the reasons.
 *
 * It stops after `maxAttempts`, or when the next wait would end past `deadlineMs` after the call
 * started: it never sleeps beyond the deadline. It then resolves with the last answer
 * (`outcome: "retryable"`) or, when no attempt got an answer, rejects with an
 * {@link IdempotentFetchError} carrying the key. The deadline bounds the waits, not a single
 * attempt; to bound an attempt, pass a `signal` such as `AbortSignal.timeout(ms)` (which ends the
 * whole call, as an abort does).
 *
 * Works in browsers, Node ≥ 18 and Workers: it uses only `fetch`, `Request`, `Headers`,
 * `crypto.randomUUID`, `setTimeout` and `AbortSignal`.
 *
 * @param options - see {@link IdempotentFetchOptions}
 * @param options.fetch - default `globalThis.fetch`
 * @param options.sleep - default a `setTimeout` that stops on abort
 * @param options.generateKey - default `crypto.randomUUID()`
 * @param options.maxAttempts - default `5`
 * @param options.baseDelayMs - default `500`
 * @param options.maxDelayMs - default `10_000`
 * @param options.deadlineMs - default `60_000`; keep it far below the key's TTL (24 h by default)
 * @param options.now - default `Date.now`
 * @param options.random - default `Math.random`
 * @returns the idempotent fetch
 * @throws RangeError when an option is out of range, naming it
 *
 * @example
 * ```ts
 * const idempotentFetch = createIdempotentFetch({ maxAttempts: 4 });
 * const { response, outcome, replayed, key } = await idempotentFetch(
 *   "http://127.0.0.1:8787/v1/payments",
 *   {
 *     method: "POST",
 *     headers: { Authorization: "Bearer sk_test_demo", "Content-Type": "application/json" },
 *     body: JSON.stringify({ amount: 1000, currency: "usd" }),
 *     idempotencyKey: payment.idempotencyKey, // saved with the payment before this call
 *   },
 * );
 * if (outcome === "unknown") await reconcile(payment, key);
 * ```
 */
export function createIdempotentFetch({
  fetch: send = (request) => fetch(request),
  sleep = timerSleep,
  generateKey = randomIdempotencyKey,
  maxAttempts = 5,
  baseDelayMs = 500,
  maxDelayMs = 10_000,
  deadlineMs = 60_000,
  now = Date.now,
  random = Math.random,
}: IdempotentFetchOptions = {}): IdempotentFetch {
  requireAtLeast("maxAttempts", maxAttempts, 1, { integer: true });
  requireAtLeast("baseDelayMs", baseDelayMs, 0);
  requireAtLeast("maxDelayMs", maxDelayMs, 0);
  requireAtLeast("deadlineMs", deadlineMs, 0);

  return async function idempotentFetch(input, init = {}) {
    const startedAt = now();
    const { idempotencyKey, ...requestInit } = init;
    // The Request constructor validates the URL, method and body before any attempt is made.
    const template = new Request(input, requestInit);
    const signal = requestInit.signal ?? (input instanceof Request ? input.signal : undefined);
    const key = chooseKey(
      idempotencyKey,
      template.headers.get(IDEMPOTENCY_KEY_HEADER),
      generateKey,
    );
    const headers = new Headers(template.headers);
    headers.set(IDEMPOTENCY_KEY_HEADER, key);
    // The signal is passed on explicitly so that an abort also cancels the attempt in flight.
    const nextAttempt = await toReplayableRequest(
      new Request(template, { headers, signal: signal ?? null }),
    );

    /** Whether another attempt may start after waiting `delayMs`. */
    const mayRetry = (attempts: number, delayMs: number) =>
      attempts < maxAttempts && now() + delayMs <= startedAt + deadlineMs;
    const backoff = (attempts: number) =>
      fullJitterDelay(attempts - 1, { baseDelayMs, maxDelayMs, random });

    for (let attempts = 1; ; attempts += 1) {
      let response: Response;
      try {
        response = await send(nextAttempt());
      } catch (error) {
        // The caller gave up: that is not a network failure to retry.
        if (signal?.aborted) throw error;
        const delayMs = backoff(attempts);
        if (!mayRetry(attempts, delayMs)) {
          throw new IdempotentFetchError(
            `No answer after ${attempts} attempt(s) with Idempotency-Key ${key}`,
            { key, attempts, cause: error },
          );
        }
        await sleep(delayMs, signal ?? undefined);
        continue;
      }

      const replayed = isReplayed(response);
      // Only a 504 needs its body read: it tells the gateway's fail-closed answer from a proxy's.
      const problemCode = response.status === 504 ? await readProblemCode(response) : undefined;
      const verdict = classifyAnswer({ status: response.status, replayed, problemCode });
      if (verdict !== "retry") return { response, outcome: verdict, replayed, attempts, key };

      const delayMs =
        parseRetryAfter(response.headers.get("Retry-After"), now()) ?? backoff(attempts);
      if (!mayRetry(attempts, delayMs)) {
        return { response, outcome: "retryable", replayed, attempts, key };
      }
      discard(response);
      await sleep(delayMs, signal ?? undefined);
    }
  };
}

/** The caller's key wins; a key already on the request is next; only then is one generated. */
function chooseKey(given: string | undefined, onRequest: string | null, generate: () => string) {
  if (given !== undefined && onRequest !== null && given !== onRequest) {
    throw new TypeError(
      `idempotencyKey ${JSON.stringify(given)} differs from the request's ${IDEMPOTENCY_KEY_HEADER} header ${JSON.stringify(onRequest)}`,
    );
  }
  const key = given ?? onRequest ?? generate();
  if (!isValidIdempotencyKey(key)) {
    throw new TypeError(
      `Invalid ${IDEMPOTENCY_KEY_HEADER} ${JSON.stringify(key)}: it must be 1 to 255 printable ASCII characters, bare or as a quoted structured-field string`,
    );
  }
  return key;
}

/** Frees the connection of an answer that will not be read. */
function discard(response: Response) {
  response.body?.cancel().catch(() => {
    // Nothing to do: the answer is being thrown away.
  });
}

function requireAtLeast(name: string, value: number, min: number, { integer = false } = {}) {
  if (Number.isNaN(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new RangeError(
      `createIdempotentFetch: ${name} must be ${integer ? "an integer" : "a number"} >= ${min}, got ${value}`,
    );
  }
}
