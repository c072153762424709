/** RFC 9110 §10.2.3: `Retry-After = HTTP-date / delay-seconds`, delay-seconds = 1*DIGIT. */
const DELAY_SECONDS = /^\d+$/;

/** Every HTTP-date form (IMF-fixdate, rfc850-date, asctime-date) starts with a day name. */
const HTTP_DATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)/;

/**
 * How long a `Retry-After` header asks the client to wait, in milliseconds.
 *
 * Both forms of RFC 9110 §10.2.3 are read: delay-seconds (`120`) and an HTTP-date
 * (`Wed, 21 Oct 2026 07:28:00 GMT`), the latter relative to `now`. A date in the past means
 * "now" (0). Anything else, including fractions such as `1.5`, is not a valid value and gives
 * `undefined`, so the caller falls back to its own backoff.
 *
 * @param value - the header value, or `null` when the header is absent
 * @param now - the current time in epoch milliseconds (passed in: this function has no clock)
 * @returns the delay in milliseconds, or `undefined` when there is no usable value
 *
 * @example
 * ```ts
 * parseRetryAfter("2", Date.now()); // 2000
 * parseRetryAfter("Wed, 21 Oct 2026 07:28:00 GMT", Date.parse("Wed, 21 Oct 2026 07:27:30 GMT")); // 30000
 * parseRetryAfter(response.headers.get("Retry-After"), Date.now()); // undefined when absent
 * ```
 */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (DELAY_SECONDS.test(trimmed)) return Number(trimmed) * 1000;
  if (!HTTP_DATE.test(trimmed)) return undefined;
  // asctime-date carries no zone but means GMT (RFC 9110 §5.6.7); Date.parse would read it as
  // local time.
  const at = Date.parse(trimmed.endsWith("GMT") ? trimmed : `${trimmed} GMT`);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
